# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# A malformed body's text never comes back in the error: jansson quotes
# the input near the error, which may be a password.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 6;

my $secret = 'Hunter2-' . unpack('H*', pack('N', rand 2**32));

my $res = api(POST => 'auth/login',
              body => qq({"email":"a\@example.com","password":$secret}));
ok t_cmp($res->{status}, 400, 'unquoted value is 400');
ok t_cmp($res->{json}{message}, qr/^Invalid JSON body: .* at line 1, column \d+$/,
         'message names the position');
ok t_cmp(index($res->{body}, $secret) < 0 ? 1 : 0, 1,
         'login error hides the input');

my $key = 'itsm_' . ('a' x 24) . '_' . $secret;
$res = api(POST => '/mcp', token => admin_token(), body => qq({"x": $key}),
           headers => { Accept => 'application/json' });
ok t_cmp($res->{status}, 400, 'MCP parse error is 400');
ok t_cmp($res->{json}{error}{code}, -32700, 'MCP parse error code');
ok t_cmp(index($res->{body}, $secret) < 0 ? 1 : 0, 1,
         'MCP error hides the input');
