# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# A graceful restart or a stop during a slow background check: the child
# that runs the check abandons it and exits at once, nothing crashes, the
# abandoned integration is not left claimed, and checks go on in the new
# generation.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmMock;
use ItsmHealthTest;
use Time::HiRes ();

plan tests => 18;

my $SLOW = '/slow?ms=15000';
my $FAST = '/health';

my $mock = ItsmMock->start(workers => 8);
# With a 20 s timeout and the default concurrency of 32, a claim lasts
# 8 waves * 3 requests * 20 s + 30 s = 510 s unless the runner hands it
# back.
my $server = ItsmServer->start(directives => [
    'ITSMHealthCheckInterval 1',
    'ITSMHealthCheckTimeout 20000',
]);
my $token = $server->login_admin;
# The fast integration gets its first verdict before the slow one exists:
# a batch stores its verdicts when its slowest probe ends, so in one batch
# with the slow probe it would have none by the restart.
my $fast = create_probe_target($server, $token, $mock, $FAST);
wait_until(15, sub {
    my $h = health_of($server, $token, $fast->{_id});
    return $h && $h->{status} eq 'healthy' ? 1 : undef;
});
my $slow = create_probe_target($server, $token, $mock, $SLOW);

# Returns the arrival time of the first slow probe after $since, waiting
# up to $seconds for it, or undef.
sub slow_probe_after {
    my ($since, $seconds) = @_;
    return wait_until($seconds, sub {
        my @times = grep { $_ > $since } probe_times($mock, $SLOW);
        return $times[0];
    });
}

# Returns the lines of the error log that report a crashed or stuck child.
sub child_trouble {
    return grep { /exit signal|AH00052|AH00045|AH00046|Segmentation/ }
           split /\n/, $server->error_log;
}

# Graceful restart while the slow probe has about 14.5 s to go. A child
# that waited for the probe would live that long.
ok t_cmp(slow_probe_after(0, 15) ? 1 : 0, 1, 'slow probe in flight');
Time::HiRes::sleep(0.5);
my @old = $server->children;
my $restarted_at = Time::HiRes::time();
ok t_cmp($server->graceful, 1, 'graceful restart completes');
my $gone = wait_until(20, sub {
    my %alive = map { $_ => 1 } $server->children;
    return (grep { $alive{$_} } @old) ? undef : Time::HiRes::time();
});
ok t_cmp($gone ? 1 : 0, 1, 'old children exit');
ok t_cmp(($gone // 99) - $restarted_at < 7 ? 1 : 0, 1,
         sprintf('old children exit within 7 s (%.1f s)',
                 ($gone // 99) - $restarted_at));

# The new generation checks both integrations again soon; the slow one
# only if the old child handed its claim back.
ok t_cmp(wait_until(10, sub {
    grep { $_ > $restarted_at } probe_times($mock, $FAST) }) ? 1 : 0, 1,
    'fast integration checked after the restart');
my $again = slow_probe_after($restarted_at, 10);
ok t_cmp($again ? 1 : 0, 1,
         'abandoned integration checked again');
my $health = wait_until(10, sub {
    my $h = health_of($server, $token, $fast->{_id});
    return $h && $h->{status} eq 'healthy' ? $h : undef;
}) // {};
ok t_cmp($health->{status}, 'healthy', 'fast integration is healthy');
$health = health_of($server, $token, $slow->{_id}) // {};
ok t_cmp(($health->{message} // '') =~ /aborted/ ? 1 : 0, 0,
         'abandoned check leaves no verdict');
ok t_cmp(scalar(child_trouble()), 0, 'no child crashed or hung');

# Stop while the slow probe that started after the restart still runs.
my $stopping_at = Time::HiRes::time();
ok t_cmp(defined $again && $stopping_at - $again < 13 ? 1 : 0, 1,
         'slow probe still in flight at the stop');
my $stopped = $server->stop;
my $stop_time = Time::HiRes::time() - $stopping_at;
ok t_cmp($stopped, 1, 'server stops by itself');
ok t_cmp($stop_time < 7 ? 1 : 0, 1,
         sprintf('stop takes less than 7 s (%.1f s)', $stop_time));
ok t_cmp(scalar(child_trouble()), 0, 'no child crashed on stop');

# Nothing stays claimed: the slow integration is due again at once, not
# when the 510 s claim would run out.
my ($due) = $server->sql("SELECT next_check_at FROM integrations "
                         . "WHERE id = '$slow->{_id}'");
ok t_cmp(defined $due ? 1 : 0, 1, 'integration is in the database');
ok t_cmp(($due // 1e15) / 1000 < Time::HiRes::time() + 5 ? 1 : 0, 1,
         sprintf('slow integration is due again (in %.1f s)',
                 ($due // 1e15) / 1000 - Time::HiRes::time()));
my ($fast_due) = $server->sql("SELECT next_check_at FROM integrations "
                              . "WHERE id = '$fast->{_id}'");
ok t_cmp(($fast_due // 1e15) / 1000 < Time::HiRes::time() + 5 ? 1 : 0, 1,
         'fast integration is due again');
my ($last_status) = $server->sql("SELECT status FROM health_checks "
    . "WHERE integration_id = '$slow->{_id}' ORDER BY id DESC LIMIT 1");
ok t_cmp(($last_status // '') eq 'unknown' ? 1 : 0, 0,
         'no aborted check in the history');
ok t_cmp(scalar(probe_times($mock, $SLOW)), 2,
         'slow integration probed once per generation');
