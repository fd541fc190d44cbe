#!/usr/bin/perl
# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Benchmark of one sweep of the background health runner: N integrations
# (default 10,000) all due at once, each probed against a loopback mock
# that answers after a fixed delay (default 100 ms), at
# ITSMHealthCheckConcurrency C (default 64). Reports the sweep time
# against the ideal N * delay / C, and the CPU time of the httpd child that
# runs the checks. Run by hand, not by make test; see t/bench/README.md.
#
#   perl t/bench/runner_sweep.pl [--count N] [--concurrency C]
#        [--delay-ms D] [--max-wait S]
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Getopt::Long qw(GetOptions);
use POSIX ();
use Time::HiRes ();
use ItsmServer;

my %opt = (count => 10000, concurrency => 64, 'delay-ms' => 100,
           'max-wait' => 300);
GetOptions(\%opt, 'count=i', 'concurrency=i', 'delay-ms=i', 'max-wait=i')
    or die "usage: $0 [--count N] [--concurrency C] [--delay-ms D] "
           . "[--max-wait S]\n";
die "$0: run it as a user other than root (httpd would switch users)\n"
    if $> == 0;

my $ticks_per_second = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

# Returns the CPU seconds (user, system) that process $pid has used.
sub cpu_seconds {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return (0, 0);
    my $text = <$fh>;
    close $fh;
    $text =~ s/^.*\) //s;
    my @fields = split ' ', $text;
    # Fields 14 and 15 of stat(5), counted from the state as field 3.
    return ($fields[11] / $ticks_per_second, $fields[12] / $ticks_per_second);
}

# The mock: one Node.js process that holds every request for the delay.
my $mock_pid = open my $mock, '-|', 'node', "$FindBin::Bin/slow_mock.js",
    $opt{'delay-ms'}
    or die "$0: cannot start node (Debian package nodejs): $!\n";
my $line = <$mock> // '';
my ($mock_port) = $line =~ /^port (\d+)/
    or die "$0: the mock did not start\n";

my $server = ItsmServer->start(processes => 1, directives => [
    'ITSMHealthCheckInterval 86400',
    "ITSMHealthCheckConcurrency $opt{concurrency}",
    'ITSMHealthCheckTimeout 10000',
    'ITSMHealthDegradedLatency 5000',
]);
$server->login_admin;
my ($admin_id) = $server->sql('SELECT id FROM users LIMIT 1');
my ($child) = $server->children;

# The integrations go straight into the database, due far in the future,
# so that the sweep starts only when they all exist.
my $now_ms = int(Time::HiRes::time() * 1000);
$server->sql(<<"SQL");
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
                        WHERE i < $opt{count})
INSERT INTO integrations (id, name, name_key, type, base_url, auth_type,
    options, is_active, health_status, health_message, health_checked_at,
    next_check_at, created_by, created_at, updated_at)
SELECT printf('%024x', i), 'Bench ' || i, 'bench ' || i, 'custom',
    'http://127.0.0.1:$mock_port', 'none', '{"healthPath":"/health"}', 1,
    'unknown', 'Integration created, health check pending', $now_ms,
    9000000000000000, '$admin_id', $now_ms, $now_ms FROM n;
SQL
sleep 2;

my @cpu_before = cpu_seconds($child);
my $started = Time::HiRes::time();
$server->sql('UPDATE integrations SET next_check_at = 0');
my ($done, $first, $last) = (0, 0, 0);
while (Time::HiRes::time() - $started < $opt{'max-wait'}) {
    Time::HiRes::sleep(0.5);
    ($done) = $server->sql('SELECT COUNT(*) FROM health_checks');
    last if $done >= $opt{count};
}
my @cpu_after = cpu_seconds($child);
($first, $last) = split /\|/, ($server->sql(
    'SELECT MIN(checked_at), MAX(checked_at) FROM health_checks'))[0] // '';
my ($healthy) = $server->sql(
    "SELECT COUNT(*) FROM health_checks WHERE status = 'healthy'");
my $slowest = max_latency($server);
my $stopped = $server->stop;

kill 'TERM', $mock_pid;
my $stats = <$mock> // '';
close $mock;

my $ideal = $opt{count} * $opt{'delay-ms'} / 1000 / $opt{concurrency};
my $sweep = ($last - $first) / 1000;
my $wall = $last / 1000 - $started;
my $user = $cpu_after[0] - $cpu_before[0];
my $system = $cpu_after[1] - $cpu_before[1];
printf "integrations checked  %d of %d (%d healthy)\n", $done,
       $opt{count}, $healthy;
printf "ideal sweep           %.1f s (%d x %d ms / %d)\n", $ideal,
       $opt{count}, $opt{'delay-ms'}, $opt{concurrency};
printf "sweep, first to last history row   %.1f s (%.2f x ideal)\n",
       $sweep, $sweep / $ideal;
printf "sweep, start to last history row   %.1f s (%.2f x ideal)\n",
       $wall, $wall / $ideal;
printf "runner child CPU      %.2f s user + %.2f s system = %.1f%% of one "
       . "core over the sweep\n", $user, $system,
       100 * ($user + $system) / ($wall || 1);
printf "slowest probe         %d ms\n", $slowest;
print  "mock                  $stats";
print  "server stopped by itself: " . ($stopped ? 'yes' : 'no') . "\n";

sub max_latency {
    my ($server) = @_;
    my ($ms) = $server->sql('SELECT MAX(latency_ms) FROM health_checks');
    return $ms // 0;
}
