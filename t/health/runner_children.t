# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Each integration is probed once per interval however many processes run
# the server: the runner is a mod_watchdog singleton, one child per server
# runs it, and claims in the database keep two servers that share it from
# probing the same integration.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmHealthTest;
use Time::HiRes ();

plan tests => 18;

my $INTERVAL = 2;
my $WINDOW = 12;
my @directives = ("ITSMHealthCheckInterval $INTERVAL");

# Creates $n integrations on $server and returns their probe paths.
sub create_targets {
    my ($server, $mock, $tag, $n) = @_;
    my $token = $server->login_admin;
    my @paths = map { "/health?$tag=$_" } 1 .. $n;
    create_probe_target($server, $token, $mock, $_) for @paths;
    return @paths;
}

# Checks that every path was probed about once per interval during the
# window that ends now: at least 4 probes, none closer than 90% of the
# interval (the jitter) to the one before.
sub check_once_per_interval {
    my ($mock, $label, @paths) = @_;
    my (@counts, @shortest);
    for my $path (@paths) {
        my @times = probe_times($mock, $path);
        push @counts, scalar @times;
        push @shortest, min_of(gaps(@times)) // 0;
    }
    ok t_cmp(min_of(@counts) >= 4 ? 1 : 0, 1,
             "$label: every integration probed (counts @counts)");
    ok t_cmp(max_of(@counts) <= $WINDOW / ($INTERVAL * 0.9) + 2 ? 1 : 0, 1,
             "$label: at most one probe per interval");
    ok t_cmp(min_of(@shortest) >= $INTERVAL * 0.9 ? 1 : 0, 1,
             sprintf('%s: no integration probed twice in an interval '
                     . '(shortest gap %.2f s)', $label, min_of(@shortest)));
}

# Returns the process ids that logged state transitions.
sub runner_pids {
    my ($server) = @_;
    my %pids = map { $_ => 1 }
               $server->error_log =~ /\[pid (\d+):tid \d+\] ITSM00051:/g;
    return keys %pids;
}

# prefork with two children
{
    my $mock = ItsmMock->start(workers => 4);
    my $server = ItsmServer->start(mpm => 'prefork', processes => 2,
                                   directives => \@directives);
    my @paths = create_targets($server, $mock, 'prefork', 4);
    ok t_cmp(scalar($server->children), 2, 'prefork runs two children');
    sleep $WINDOW;
    check_once_per_interval($mock, 'prefork', @paths);
    ok t_cmp(scalar(runner_pids($server)), 1,
             'one prefork child runs the checks');
    ok t_cmp($server->stop, 1, 'prefork server stops');
}

# event with two processes
{
    my $mock = ItsmMock->start(workers => 4);
    my $server = ItsmServer->start(mpm => 'event', processes => 2,
                                   directives => \@directives);
    my @paths = create_targets($server, $mock, 'event', 4);
    ok t_cmp(scalar($server->children), 2, 'event runs two processes');
    sleep $WINDOW;
    check_once_per_interval($mock, 'event', @paths);
    ok t_cmp(scalar(runner_pids($server)), 1,
             'one event process runs the checks');
    ok t_cmp($server->stop, 1, 'event server stops');
}

# two servers on one database
{
    my $mock = ItsmMock->start(workers => 8);
    my $first = ItsmServer->start(directives => \@directives);
    my $second = ItsmServer->start(directives => \@directives,
                                   share => $first);
    my @paths = create_targets($first, $mock, 'shared', 8);
    sleep $WINDOW;
    check_once_per_interval($mock, 'two servers', @paths);
    ok t_cmp($first->stop, 1, 'first server stops');
    ok t_cmp($second->stop, 1, 'second server stops');
    my $probes = grep { $_->{path} eq '/health' } $mock->requests;
    ok t_cmp(($first->sql('SELECT COUNT(*) FROM health_checks'))[0],
             $probes, 'every probe recorded once');
}
