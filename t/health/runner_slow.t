# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# A slow service never has two background probes in flight: the next
# probe of an integration starts only after the last one ended, and a probe
# ends at ITSMHealthCheckTimeout at the latest.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmHealthTest;
use Time::HiRes ();

plan tests => 16;

my $mock = ItsmMock->start(workers => 8);
my $server = ItsmServer->start(directives => [
    'ITSMHealthCheckInterval 1',
    'ITSMHealthCheckTimeout 4000',
    'ITSMHealthFailThreshold 1',
    'ITSMHealthDegradedLatency 1000',
]);
my $token = $server->login_admin;

# Every probe takes 2.5 s, longer than the 1 s interval.
$mock->set_mode('slow', ms => 2500);
my $it = create_probe_target($server, $token, $mock, '/health');
my $id = $it->{_id};

ok t_cmp(wait_until(10, sub { probe_times($mock, '/health') >= 1 }) ? 1 : 0,
         1, 'first probe arrives');
sleep 12;
my @times = probe_times($mock, '/health');
my @gaps = gaps(@times);
ok t_cmp(@times >= 3 ? 1 : 0, 1, scalar(@times) . ' probes in 12 s');
ok t_cmp(@times <= 6 ? 1 : 0, 1, 'at most one probe per 2.5 s');
ok t_cmp((min_of(@gaps) // 0) >= 2.5 ? 1 : 0, 1,
         sprintf('probes start at least 2.5 s apart (shortest gap %.2f s)',
                 min_of(@gaps) // 0));
my $health = health_of($server, $token, $id) // {};
ok t_cmp($health->{status}, 'degraded', 'slow service is degraded');
ok t_cmp($health->{message}, qr/responding slowly/,
         'message says it responds slowly');
ok t_cmp(($health->{latencyMs} // 0) >= 2500 ? 1 : 0, 1,
         'latencyMs includes the delay');

# An edit while a probe runs drops that probe's result, and the
# integration is probed again at once, not when its claim would end.
my $before_edit = probe_times($mock, '/health');
wait_until(10, sub { probe_times($mock, '/health') > $before_edit });
Time::HiRes::sleep(0.5);
my $res = $server->api(PUT => "integration/$id", token => $token,
                       json => { description => 'Edited during a probe' });
ok t_cmp($res->{status}, 200, 'edited during a probe');
ok t_cmp(wait_until(10, sub {
    probe_times($mock, '/health') >= $before_edit + 2 }) ? 1 : 0, 1,
    'probed again after the edit');

# Longer than the 4 s timeout: each probe gives up after 4 s.
$mock->set_mode('slow', ms => 9000);
my $mark = Time::HiRes::time();
$health = wait_until(20, sub {
    my $h = health_of($server, $token, $id);
    return $h && $h->{status} eq 'unhealthy' ? $h : undef;
}) // {};
ok t_cmp($health && $health->{status}, 'unhealthy',
         'timed-out service is unhealthy');
ok t_cmp($health->{message}, qr/timed out after \d+ ms/,
         'message says the check timed out');
my $latency = $health->{latencyMs} // 0;
ok t_cmp($latency >= 3900 && $latency < 6000 ? 1 : 0, 1,
         "latencyMs is the timeout ($latency ms)");
ok t_cmp(exists $health->{httpStatus} ? 1 : 0, 0,
         'no httpStatus without a response');
sleep 10;
@times = grep { $_ > $mark } probe_times($mock, '/health');
@gaps = gaps(@times);
ok t_cmp(@times >= 2 ? 1 : 0, 1, scalar(@times) . ' timed-out probes');
ok t_cmp((min_of(@gaps) // 0) >= 4 ? 1 : 0, 1,
         sprintf('next probe only after the timeout (shortest gap %.2f s)',
                 min_of(@gaps) // 0));
ok t_cmp($server->stop, 1, 'server stops');
