# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The background runner never probes an inactive integration: not one
# created inactive, and not one deactivated after its first checks, until
# it is activated again.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmHealthTest;
use Time::HiRes ();

plan tests => 12;

my $mock = ItsmMock->start(workers => 4);
my $server = ItsmServer->start(directives => ['ITSMHealthCheckInterval 1']);
my $token = $server->login_admin;

my $inactive = create_probe_target($server, $token, $mock,
    '/health?target=inactive', isActive => 0);
my $deactivated = create_probe_target($server, $token, $mock,
    '/health?target=deactivated');
my $control = create_probe_target($server, $token, $mock,
    '/health?target=control');
ok t_cmp($inactive->{health}{status}, 'inactive',
         'created inactive integration is inactive');

ok t_cmp(wait_until(10, sub {
    probe_times($mock, '/health?target=deactivated') >= 2 }) ? 1 : 0, 1,
    'active integration is probed');
my $res = $server->api(PUT => "integration/$deactivated->{_id}",
                       token => $token,
                       json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivated');
my $deactivated_at = Time::HiRes::time();
my $history_count = sub {
    ($server->sql("SELECT COUNT(*) FROM health_checks "
                  . "WHERE integration_id = '$deactivated->{_id}'"))[0];
};
# A probe that had been claimed before the update may still finish.
Time::HiRes::sleep(0.5);
my $rows = $history_count->();
my $control_before = probe_times($mock, '/health?target=control');

sleep 6;
ok t_cmp(scalar(probe_times($mock, '/health?target=inactive')), 0,
         'integration created inactive is never probed');
my @late = grep { $_ > $deactivated_at + 0.5 }
           probe_times($mock, '/health?target=deactivated');
ok t_cmp(scalar @late, 0, 'deactivated integration is not probed');
ok t_cmp($history_count->(), $rows, 'no history rows after deactivation');
my $control_after = probe_times($mock, '/health?target=control');
ok t_cmp($control_after - $control_before >= 3 ? 1 : 0, 1,
         'active integration is probed meanwhile ('
         . ($control_after - $control_before) . ' probes)');
ok t_cmp(health_of($server, $token, $deactivated->{_id})->{status},
         'inactive', 'deactivated integration is inactive');
ok t_cmp(health_of($server, $token, $inactive->{_id})->{status},
         'inactive', 'inactive integration stays inactive');

# Activated again, it is probed soon.
$res = $server->api(PUT => "integration/$deactivated->{_id}",
                    token => $token, json => { isActive => JSON::PP::true });
ok t_cmp($res->{status}, 200, 'activated');
my $health = wait_until(10, sub {
    my $h = health_of($server, $token, $deactivated->{_id});
    return $h && $h->{status} eq 'healthy' ? $h : undef;
}) // {};
ok t_cmp($health && $health->{status}, 'healthy',
         'activated integration is probed again');
ok t_cmp($server->stop, 1, 'server stops');
