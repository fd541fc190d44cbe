# Licensed under the Apache License, Version 2.0; see LICENSE.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 5;

my $res = api(GET => 'health');
ok t_cmp($res->{status}, 200, 'health answers 200 without a token');
ok t_cmp($res->{type}, qr{^application/json}, 'health is JSON');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'success is true');
ok t_cmp($res->{json}{status}, 'ok', 'status is ok');

$res = api(POST => 'health', json => {});
ok t_cmp($res->{status}, 405, 'POST on health is 405');
