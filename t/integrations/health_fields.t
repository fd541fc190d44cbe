# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The health object after probes and (de)activation: latency and HTTP
# status describe the last probe only while it is current.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;

plan tests => 10;

my $admin = admin_token();
my $mock = default_mock();
my $it = create_integration($admin, auth => {
    type => 'basic',
    credentials => { username => $mock->credentials->{username},
                     password => $mock->credentials->{password} } });
my $id = $it->{_id};

my $res = api(POST => "integration/$id/check-health", token => $admin);
ok t_cmp($res->{json}{data}{status}, 'healthy', 'probe is healthy');
ok t_cmp($res->{json}{data}{httpStatus}, 200, 'probe has HTTP status');
ok t_cmp(defined $res->{json}{data}{latencyMs} ? 1 : 0, 1,
         'probe has latency');
ok t_cmp($res->{json}{data}{uptime}{'24h'}, 100,
         'check answer counts its own check');

$res = api(PUT => "integration/$id", token => $admin,
           json => { isActive => JSON::PP::false });
my $health = $res->{json}{data}{health};
ok t_cmp($health->{status}, 'inactive', 'deactivated is inactive');
ok t_cmp(exists $health->{httpStatus} ? 1 : 0, 0,
         'deactivated drops HTTP status');
ok t_cmp(exists $health->{latencyMs} ? 1 : 0, 0,
         'deactivated drops latency');

$res = api(GET => "integration/$id", token => $admin);
ok t_cmp(exists $res->{json}{data}{health}{httpStatus} ? 1 : 0, 0,
         'stored health drops HTTP status');

# A probe that fails before any response still reports its latency.
my $closed = create_integration($admin, baseUrl => 'http://127.0.0.1:9');
$res = api(POST => "integration/$closed->{_id}/check-health",
           token => $admin);
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'closed port unhealthy');
ok t_cmp(defined $res->{json}{data}{latencyMs} ? 1 : 0, 1,
         'transport failure has latency');
