# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The background runner turns an integration healthy, unhealthy after
# ITSMHealthFailThreshold failures in a row and healthy again after
# ITSMHealthPassThreshold successes, logs each transition once, and shows
# latency, HTTP status, failures and uptime in the integration.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmHealthTest;
use MIME::Base64 qw(encode_base64);

plan tests => 31;

my $mock = ItsmMock->start(workers => 4);
my $server = ItsmServer->start(directives => [
    'ITSMHealthCheckInterval 1',
    'ITSMHealthFailThreshold 3',
    'ITSMHealthPassThreshold 2',
    'ITSMHealthCheckTimeout 3000',
    'ITSMHealthDegradedLatency 2000',
]);
my $token = $server->login_admin;
my $creds = $mock->credentials;
my $it = create_probe_target($server, $token, $mock, '/secure/health',
    auth => { type => 'basic',
              credentials => { username => $creds->{username},
                               password => $creds->{password} } });
my $id = $it->{_id};

# Records every (status, consecutiveFailures) pair seen until $until
# returns true for a health object, polling faster than the 1 s interval.
sub observe {
    my ($seconds, $until) = @_;
    my @seen;
    my $last = wait_until($seconds, sub {
        my $health = health_of($server, $token, $id) or return undef;
        push @seen, "$health->{status}/$health->{consecutiveFailures}";
        return $until->($health) ? $health : undef;
    });
    return ($last, { map { $_ => 1 } @seen });
}

# Up: the first check decides at once.
my ($health) = observe(15, sub { $_[0]{status} eq 'healthy' });
$health //= {};
ok t_cmp($health && $health->{status}, 'healthy',
         'integration turns healthy');
ok t_cmp($health->{httpStatus}, 200, 'httpStatus is 200');
ok t_cmp(($health->{latencyMs} // '') =~ /^\d+$/ ? 1 : 0, 1,
         'latencyMs is a whole number');
ok t_cmp($health->{consecutiveFailures}, 0, 'no failures');
ok t_cmp($health->{uptime}{'24h'}, 100, '24h uptime is 100');
ok t_cmp($health->{uptime}{'7d'}, 100, '7d uptime is 100');
ok t_cmp($health->{uptime}{'30d'}, 100, '30d uptime is 100');
ok t_cmp($health->{lastChecked}, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z$/,
         'lastChecked is an ISO time');

# Down: fail threshold 3, so two failures leave it healthy.
$mock->set_mode('down');
my $seen;
($health, $seen) = observe(20, sub { $_[0]{status} eq 'unhealthy' });
$health //= {};
ok t_cmp($health && $health->{status}, 'unhealthy',
         'integration turns unhealthy');
ok t_cmp($seen->{'healthy/1'} ? 1 : 0, 1, 'healthy after one failure');
ok t_cmp($seen->{'healthy/2'} ? 1 : 0, 1, 'healthy after two failures');
ok t_cmp((grep { m{^unhealthy/[012]$} } keys %$seen) ? 1 : 0, 0,
         'never unhealthy before three failures');
ok t_cmp(($health->{consecutiveFailures} // 0) >= 3 ? 1 : 0, 1,
         'unhealthy with at least three failures');
ok t_cmp($health->{httpStatus}, 503, 'httpStatus is 503');
ok t_cmp($health->{message}, qr/HTTP 503/, 'message names the status');
ok t_cmp(($health->{uptime}{'24h'} // 100) < 100 ? 1 : 0, 1,
         'failed checks lower the uptime');

# Up again: pass threshold 2, so one success leaves it unhealthy.
$mock->set_mode('up');
($health, $seen) = observe(20, sub { $_[0]{status} eq 'healthy' });
$health //= {};
ok t_cmp($health && $health->{status}, 'healthy',
         'integration turns healthy again');
ok t_cmp($seen->{'unhealthy/0'} ? 1 : 0, 1,
         'unhealthy after one success');
my $res = $server->api(GET => "integration/$id/health/history?limit=20",
                       token => $token);
my @recent;
for my $check (@{ $res->{json}{data} // [] }) {
    last if $check->{status} ne 'healthy';
    push @recent, $check;
}
ok t_cmp(@recent >= 2 ? 1 : 0, 1,
         'two healthy checks before healthy again');

# Each transition is logged once, at info level, without secrets.
my $log = $server->error_log;
my @transitions = grep { /ITSM00051: integration \Q$id\E / }
                  split /\n/, $log;
ok t_cmp(scalar @transitions, 3, 'three transitions logged');
ok t_cmp(scalar(grep { /\[itsm:info\]/ } @transitions), 3,
         'transitions are logged at info level');
ok t_cmp(scalar(grep { /is now healthy, was unknown/ } @transitions), 1,
         'unknown to healthy logged once');
ok t_cmp(scalar(grep { /is now unhealthy, was healthy: HTTP 503/ }
                @transitions), 1, 'healthy to unhealthy logged once');
ok t_cmp(scalar(grep { /is now healthy, was unhealthy/ } @transitions), 1,
         'unhealthy to healthy logged once');
ok t_cmp(scalar(grep { /\Q$it->{name}\E/ } @transitions), 3,
         'transitions name the integration');
my $basic = encode_base64("$creds->{username}:$creds->{password}", '');
ok t_cmp(index($log, $creds->{password}) >= 0 ? 1 : 0, 0,
         'password not in the error log');
ok t_cmp(index($log, $basic) >= 0 ? 1 : 0, 0,
         'Basic credentials not in the error log');

# Uptime is the share of healthy checks in the history. Deactivating stops
# the checks, so both can be compared at rest.
$res = $server->api(PUT => "integration/$id", token => $token,
                    json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivated');
sleep 2;
my ($total, $healthy) = split /\|/, ($server->sql(
    "SELECT COUNT(*), SUM(status = 'healthy') FROM health_checks "
    . "WHERE integration_id = '$id'"))[0];
$health = health_of($server, $token, $id) // {};
my $expected = int(($healthy * 10000 + $total / 2) / $total) / 100;
ok t_cmp(abs(($health->{uptime}{'24h'} // -1) - $expected) < 0.006
         ? 1 : 0, 1,
         "24h uptime matches the history ($healthy of $total healthy)");
ok t_cmp($health->{uptime}{'30d'}, $health->{uptime}{'24h'},
         '30d uptime covers the same checks');
ok t_cmp($server->stop, 1, 'server stops');
