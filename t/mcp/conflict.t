# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# A tool call that names an integration and a system type that do not
# match is refused instead of silently using the integration.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

plan tests => 3;

my $admin = admin_token();
my $it = create_integration($admin);

my ($result) = call_tool($admin, 'get_integration',
                         { integration => $it->{_id}, system => 'zendesk' });
ok t_cmp(($result // {})->{isError}, JSON::PP::true, 'mismatch is an error');
ok t_cmp(tool_text($result), qr/is a jira integration, not zendesk/,
         'mismatch message names both types');

($result) = call_tool($admin, 'get_integration',
                      { integration => $it->{_id}, system => 'jira' });
ok t_cmp(($result // {})->{isError}, JSON::PP::false, 'matching type works');
