# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# GET /api/integration/:id/health/history (newest first, pages with
# ?limit= and the nextBefore cursor, read access as for the integration)
# and GET /api/integration/health/summary (counts by status and the
# integrations that are not healthy, for admins and integrators).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmHealthTest;

plan tests => 43;

my $mock = ItsmMock->start(workers => 4);
my $server = ItsmServer->start(directives => [
    'ITSMHealthCheckInterval 1',
    'ITSMHealthFailThreshold 1',
]);
my $admin = $server->login_admin;
my $integrator = $server->new_user(role => 'integrator');
my $manager = $server->new_user(role => 'user');
my $outsider = $server->new_user(role => 'user');

my $it = create_probe_target($server, $admin, $mock, '/health?target=paged',
                             managers => [ $manager->{id} ]);
my $id = $it->{_id};
my $history = "integration/$id/health/history";

ok t_cmp(wait_until(20, sub {
    ($server->sql("SELECT COUNT(*) FROM health_checks "
                  . "WHERE integration_id = '$id'"))[0] >= 7 }) ? 1 : 0, 1,
    'seven checks recorded');
# Deactivated, the integration gets no new rows while the pages are read.
my $res = $server->api(PUT => "integration/$id", token => $admin,
                       json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivated');
sleep 1;
my ($total) = $server->sql("SELECT COUNT(*) FROM health_checks "
                           . "WHERE integration_id = '$id'");

# Default page: everything, newest first, no cursor.
$res = $server->api(GET => $history, token => $admin);
ok t_cmp($res->{status}, 200, 'history answers 200');
ok t_cmp($res->{json}{count}, $total, 'default page holds all checks');
ok t_cmp(defined $res->{json}{nextBefore} ? 1 : 0, 0,
         'no cursor after the last page');
my @all = @{ $res->{json}{data} };
my @times = map { $_->{checkedAt} } @all;
ok t_cmp(join(',', @times), join(',', sort { $b cmp $a } @times),
         'newest first');
my $check = $all[0];
ok t_cmp($check->{status}, 'healthy', 'check has its status');
ok t_cmp($check->{httpStatus}, 200, 'check has its HTTP status');
ok t_cmp($check->{latencyMs} =~ /^\d+$/ ? 1 : 0, 1,
         'check has its latency');
ok t_cmp($check->{message}, qr/responding/, 'check has its message');

# Pages of 3 with the cursor cover the same checks once.
my (@paged, $pages);
my $cursor;
do {
    my $url = "$history?limit=3" . (defined $cursor ? "&before=$cursor" : '');
    $res = $server->api(GET => $url, token => $admin);
    $pages++;
    push @paged, @{ $res->{json}{data} // [] };
    $cursor = $res->{json}{nextBefore};
} while (defined $cursor && $pages < 20);
ok t_cmp($pages, int(($total + 2) / 3),
         'pages of 3 until the cursor is null');
ok t_cmp(scalar @paged, $total, 'pages hold every check');
ok t_cmp(join(',', map { $_->{checkedAt} } @paged), join(',', @times),
         'pages hold the checks in order, each once');
$res = $server->api(GET => "$history?limit=3", token => $admin);
ok t_cmp($res->{json}{count}, 3, 'count is the page size');
ok t_cmp($res->{json}{nextBefore}, qr/^\d+$/, 'nextBefore is a cursor');

# Invalid parameters.
for my $query ('limit=0', 'limit=501', 'limit=abc', 'before=0',
               'before=-5') {
    $res = $server->api(GET => "$history?$query", token => $admin);
    ok t_cmp($res->{status}, 400, "$query is rejected");
}
ok t_cmp($res->{json}{message} // '', qr/before/,
         'error names the parameter');

# Access as for reading the integration.
ok t_cmp($server->api(GET => $history)->{status}, 401,
         'no token gets 401');
ok t_cmp($server->api(GET => $history, token => $outsider->{token})
             ->{status}, 403, 'unrelated user gets 403');
ok t_cmp($server->api(GET => $history, token => $manager->{token})
             ->{status}, 200, 'manager reads the history');
ok t_cmp($server->api(GET => $history, token => $integrator->{token})
             ->{status}, 200, 'integrator reads the history');
ok t_cmp($server->api(GET => 'integration/0123456789abcdef01234567/health/'
                      . 'history', token => $admin)->{status}, 404,
         'unknown integration gets 404');

# Summary: one integration in each status.
my %targets = (
    healthy   => '/health?target=healthy',
    unhealthy => '/status/500',
    degraded  => '/html',
);
my %ids = map {
    $_ => create_probe_target($server, $admin, $mock, $targets{$_})->{_id}
} sort keys %targets;
$ids{inactive} = create_probe_target($server, $admin, $mock,
    '/health?target=inactive', isActive => 0)->{_id};
for my $status (qw(healthy unhealthy degraded)) {
    my $health = wait_until(15, sub {
        my $h = health_of($server, $admin, $ids{$status});
        return $h && $h->{status} eq $status ? $h : undef;
    });
    ok t_cmp($health && $health->{status}, $status,
             "integration turns $status");
}

$res = $server->api(GET => 'integration/health/summary', token => $admin);
ok t_cmp($res->{status}, 200, 'summary answers 200 for an admin');
my $data = $res->{json}{data};
ok t_cmp($data->{total}, 5, 'total counts every integration');
ok t_cmp($data->{byStatus}{healthy}, 1, 'one healthy');
ok t_cmp($data->{byStatus}{unhealthy}, 1, 'one unhealthy');
ok t_cmp($data->{byStatus}{degraded}, 1, 'one degraded');
ok t_cmp($data->{byStatus}{inactive}, 2, 'two inactive');
ok t_cmp($data->{byStatus}{unknown}, 0, 'none unknown');
my %listed = map { $_->{_id} => $_ } @{ $data->{notHealthy} };
ok t_cmp(join(',', sort keys %listed),
         join(',', sort @ids{qw(unhealthy degraded)}),
         'notHealthy lists unhealthy and degraded');
my $entry = $listed{ $ids{unhealthy} } // {};
ok t_cmp($entry->{health}{status}, 'unhealthy', 'entry has its status');
ok t_cmp(($entry->{health}{consecutiveFailures} // 0) >= 1 ? 1 : 0, 1,
         'entry has its failures');
ok t_cmp($entry->{health}{message}, qr/HTTP 500/,
         'entry has its message');
ok t_cmp($server->api(GET => 'integration/health/summary',
                      token => $integrator->{token})->{status}, 200,
         'integrator reads the summary');
ok t_cmp($server->api(GET => 'integration/health/summary',
                      token => $outsider->{token})->{status}, 403,
         'user gets 403 on the summary');
ok t_cmp($server->stop, 1, 'server stops');
