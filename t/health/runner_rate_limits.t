# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The background runner waits as long as a 429 or 503 response's
# Retry-After asks before it probes that integration again, backs off
# (doubling, up to ITSMHealthAuthBackoffMax) while the service rejects the
# credentials, and starts over when the credentials change.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmHealthTest;

plan tests => 23;

my $mock = ItsmMock->start(workers => 8);
my $server = ItsmServer->start(directives => [
    'ITSMHealthCheckInterval 1',
    'ITSMHealthFailThreshold 1',
    'ITSMHealthAuthBackoffMax 4',
]);
my $token = $server->login_admin;
my $creds = $mock->credentials;

my %paths = (
    unavailable  => '/status/503?retry_after=4',
    rate_limited => '/status/429?retry_after=4',
    control      => '/status/503',
    huge         => '/status/503?retry_after=9223372036854775807',
);
my %ids;
for my $name (sort keys %paths) {
    $ids{$name} = create_probe_target($server, $token, $mock,
                                      $paths{$name})->{_id};
}
my $rejected = create_probe_target($server, $token, $mock, '/secure/health',
    auth => { type => 'basic',
              credentials => { username => $creds->{username},
                               password => 'wrong-password-1' } });
my $rejected_id = $rejected->{_id};

sleep 20;

# Retry-After: 4 holds the next probe back for 4 s, where the 1 s interval
# alone (the control) probes about every second.
for my $name (qw(unavailable rate_limited)) {
    my @gaps = gaps(probe_times($mock, $paths{$name}));
    ok t_cmp(@gaps >= 2 ? 1 : 0, 1, "$name: probed again after waiting");
    ok t_cmp((min_of(@gaps) // 0) >= 3.9 ? 1 : 0, 1,
             sprintf('%s: Retry-After honoured (shortest gap %.2f s)',
                     $name, min_of(@gaps) // 0));
}
my @control = gaps(probe_times($mock, $paths{control}));
ok t_cmp(@control >= 6 ? 1 : 0, 1,
         'without Retry-After the interval applies ('
         . scalar(@control) . ' gaps)');
# A Retry-After too large for milliseconds is capped at one day.
ok t_cmp(scalar(probe_times($mock, $paths{huge})), 1,
         'huge Retry-After allows no second probe');
ok t_cmp((min_of(@control) // 99) < 2.5 ? 1 : 0, 1,
         sprintf('control probed within 2.5 s (shortest gap %.2f s)',
                 min_of(@control) // 0));

my $health = health_of($server, $token, $ids{rate_limited}) // {};
ok t_cmp($health->{status}, 'degraded', '429 is degraded');
ok t_cmp($health->{message}, qr/Retry-After: 4/, 'message names the wait');
$health = health_of($server, $token, $ids{unavailable}) // {};
ok t_cmp($health->{status}, 'unhealthy', '503 is unhealthy');

# Rejected credentials: waits of 1, 2, 4 and then 4 s (the cap), where the
# interval alone would give 1 s. A gap is the wait (with 10% jitter below
# the cap) plus up to one 1 s tick of the runner.
my @auth = gaps(probe_times($mock, '/secure/health'));
ok t_cmp(@auth >= 5 ? 1 : 0, 1, scalar(@auth) . ' gaps after rejections');
ok t_cmp(($auth[1] // 0) >= 1.7 ? 1 : 0, 1,
         sprintf('second wait doubles (%.2f s)', $auth[1] // 0));
ok t_cmp(($auth[2] // 0) >= 3.5 ? 1 : 0, 1,
         sprintf('third wait doubles again (%.2f s)', $auth[2] // 0));
ok t_cmp((max_of(@auth) // 99) < 6 ? 1 : 0, 1,
         sprintf('waits stay at the 4 s cap (longest %.2f s)',
                 max_of(@auth) // 0));
$health = health_of($server, $token, $rejected_id) // {};
ok t_cmp($health->{message}, qr/authentication failed/,
         'rejection is an authentication failure');

# New credentials reset the back-off: probes come every second again.
my $before = probe_times($mock, '/secure/health');
my $res = $server->api(PUT => "integration/$rejected_id", token => $token,
    json => { config => { baseUrl => $mock->url,
                          auth => { type => 'basic',
                                    credentials => {
                                        username => $creds->{username},
                                        password => 'wrong-password-2' } },
                          options => { healthPath => '/secure/health' } } });
ok t_cmp($res->{status}, 200, 'credentials updated');
ok t_cmp(wait_until(10, sub {
    probe_times($mock, '/secure/health') >= $before + 2 }) ? 1 : 0, 1,
    'two probes after the update');
my @after = (probe_times($mock, '/secure/health'))[$before .. $before + 1];
ok t_cmp($after[1] - $after[0] < 3 ? 1 : 0, 1,
         sprintf('update resets the back-off (%.2f s)',
                 $after[1] - $after[0]));

$res = $server->api(PUT => "integration/$rejected_id", token => $token,
    json => { config => { baseUrl => $mock->url,
                          auth => { type => 'basic',
                                    credentials => {
                                        username => $creds->{username},
                                        password => $creds->{password} } },
                          options => { healthPath => '/secure/health' } } });
$health = wait_until(10, sub {
    my $h = health_of($server, $token, $rejected_id);
    return $h && $h->{status} eq 'healthy' ? $h : undef;
}) // {};
ok t_cmp($health && $health->{status}, 'healthy',
         'valid credentials turn it healthy');
ok t_cmp($server->stop, 1, 'server stops');

# A back-off cap below the interval does not shorten the interval.
$server = ItsmServer->start(directives => [
    'ITSMHealthCheckInterval 2',
    'ITSMHealthAuthBackoffMax 1',
]);
create_probe_target($server, $server->login_admin, $mock,
    '/secure/health?server=2',
    auth => { type => 'basic',
              credentials => { username => $creds->{username},
                               password => 'wrong-password-3' } });
sleep 9;
my @capped = gaps(probe_times($mock, '/secure/health?server=2'));
ok t_cmp(@capped >= 2 ? 1 : 0, 1, scalar(@capped) . ' gaps');
ok t_cmp((min_of(@capped) // 0) >= 1.8 ? 1 : 0, 1,
         sprintf('rejected credentials wait the interval (shortest gap '
                 . '%.2f s)', min_of(@capped) // 0));
ok t_cmp($server->stop, 1, 'second server stops');
