# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The last active admin cannot be deleted, demoted or deactivated, whoever
# that admin is, also when two admins demote each other at the same time.
# The file leaves the bootstrap admin active, with its password unchanged.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 44;

my $boot_pw = admin_password();
my $boot = admin_token();
my $boot_id = api(GET => 'users/profile/me',
                  token => $boot)->{json}{data}{_id};

sub update {
    my ($id, $token, $body) = @_;
    return api(PUT => "users/$id", token => $token, json => $body);
}

# Returns the ids of the active admins, as listed for $token (default: the
# bootstrap admin); an empty list when $token may not list users.
sub active_admins {
    my ($token) = @_;
    my @users = eval { all_users($token // $boot) };
    return map { $_->{_id} }
           grep { $_->{role} eq 'admin' && $_->{isActive} } @users;
}

sub stored {
    my ($id) = @_;
    return api(GET => "users/$id", token => $boot)->{json}{data} // {};
}

# Leave the bootstrap admin as the only active one: other test files may
# have created admins.
for my $id (grep { $_ ne $boot_id } active_admins()) {
    update($id, $boot, { isActive => JSON::PP::false });
}
my @admins = active_admins();
ok t_cmp(scalar @admins, 1, 'one active admin is left');
ok t_cmp($admins[0], $boot_id, 'it is the bootstrap admin');
# Without that, the checks below could demote the bootstrap admin and
# break every later test file.
die "the bootstrap admin is not the only active admin; stopping\n"
    unless @admins == 1 && $admins[0] eq $boot_id;

# The last active admin keeps its role, its activity and its record.
my $res = update($boot_id, $boot, { role => 'user' });
ok t_cmp($res->{status}, 400, 'demoting the last admin is 400');
ok t_cmp($res->{json}{message} // '', qr/last active admin/,
         'demotion message names the rule');
$res = update($boot_id, $boot, { role => 'integrator' });
ok t_cmp($res->{status}, 400, 'making the last admin integrator is 400');
$res = update($boot_id, $boot, { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 400, 'deactivating the last admin is 400');
ok t_cmp($res->{json}{message} // '', qr/last active admin/,
         'deactivation message names the rule');
$res = update($boot_id, $boot,
              { role => 'user', isActive => JSON::PP::false });
ok t_cmp($res->{status}, 400, 'demoting and deactivating is 400');
$res = api(DELETE => "users/$boot_id", token => $boot);
ok t_cmp($res->{status}, 400, 'deleting the last admin is 400');
ok t_cmp($res->{json}{message} // '', qr/last active admin/,
         'delete message names the rule');
my $me = stored($boot_id);
ok t_cmp($me->{role}, 'admin', 'last admin is still admin');
ok t_cmp($me->{isActive}, JSON::PP::true, 'last admin is still active');
ok t_cmp(api(GET => 'users', token => $boot)->{status}, 200,
         'last admin token still works');

# Renaming the last admin is allowed.
$res = update($boot_id, $boot, { lastName => 'User' });
ok t_cmp($res->{status}, 200, 'renaming the last admin is 200');

# An inactive admin does not count.
my $idle = new_user(role => 'admin');
$res = update($idle->{id}, $boot, { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivating a second admin is 200');
$res = update($boot_id, $boot, { role => 'user' });
ok t_cmp($res->{status}, 400, 'inactive admin does not count');
$res = api(DELETE => "users/$boot_id", token => $boot);
ok t_cmp($res->{status}, 400, 'inactive admin does not allow delete');
$res = api(DELETE => "users/$idle->{id}", token => $boot);
ok t_cmp($res->{status}, 200, 'deleting an inactive admin is 200');

# With another active admin, admins may be demoted, deactivated, deleted.
my $second = new_user(role => 'admin');
$res = update($second->{id}, $second->{token}, { role => 'integrator' });
ok t_cmp($res->{status}, 200, 'admin demotes self when not last');
ok t_cmp(stored($second->{id})->{role}, 'integrator', 'demotion is stored');
my $third = new_user(role => 'admin');
$res = api(DELETE => "users/$third->{id}", token => $boot);
ok t_cmp($res->{status}, 200, 'deleting an admin when not last is 200');

# The rule protects any last admin, not only the bootstrap one: with the
# bootstrap admin deactivated, the other admin is the last.
my $other = new_user(role => 'admin');
$res = update($boot_id, $other->{token}, { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'other admin deactivates bootstrap admin');
$res = update($other->{id}, $other->{token}, { role => 'user' });
ok t_cmp($res->{status}, 400, 'other admin cannot demote self now');
$res = update($other->{id}, $other->{token}, { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 400, 'other admin cannot deactivate self now');
$res = api(DELETE => "users/$other->{id}", token => $other->{token});
ok t_cmp($res->{status}, 400, 'other admin cannot delete self now');
$res = update($boot_id, $other->{token}, { isActive => JSON::PP::true });
ok t_cmp($res->{status}, 200, 'bootstrap admin is reactivated');
$boot = admin_token(1);
ok t_cmp(api(GET => 'users', token => $boot)->{status}, 200,
         'bootstrap admin logs in again');
$res = update($other->{id}, $boot, { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'other admin is deactivated again');

# Two admins demote each other at once: at most one request wins, so one
# active admin remains. Three rounds, each with a new second admin.
for my $round (1 .. 3) {
    my $rival = new_user(role => 'admin');
    my @jobs = ([ $rival->{id}, $boot ], [ $boot_id, $rival->{token} ]);
    my @status;
    my @pids;
    for my $i (0 .. $#jobs) {
        pipe my $read, my $write or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $read;
            my ($id, $token) = @{ $jobs[$i] };
            my $r = update($id, $token, { role => 'user' });
            print {$write} $r->{status};
            close $write;
            exit 0;
        }
        close $write;
        push @pids, [ $pid, $read ];
    }
    for my $p (@pids) {
        my ($pid, $read) = @$p;
        my $status = <$read> // 0;
        close $read;
        waitpid $pid, 0;
        push @status, $status;
    }
    # The loser gets 400 (last admin) or, when the winner demoted it
    # before it was authorised, 403.
    my $won = grep { $_ == 200 } @status;
    my $lost = grep { $_ == 400 || $_ == 403 } @status;
    ok t_cmp($won, 1, "round $round: one demotion wins");
    ok t_cmp($lost, 1, "round $round: the other is rejected");
    # Only a caller that is still an admin may list users, so the two
    # lists hold one entry in all when exactly one admin remains.
    my @after = (active_admins($boot), active_admins($rival->{token}));
    ok t_cmp(scalar @after, 1, "round $round: one active admin remains");

    # Restore: the bootstrap admin is admin and the rival is not.
    if (stored($boot_id)->{role} ne 'admin') {
        update($boot_id, $rival->{token}, { role => 'admin' });
    }
    update($rival->{id}, $boot, { role => 'user' });
    my @left = active_admins();
    ok t_cmp(join(',', @left), $boot_id,
             "round $round: bootstrap admin is the only admin again");
}

ok t_cmp(stored($boot_id)->{role}, 'admin', 'bootstrap admin ends as admin');
ok t_cmp(defined login('admin@example.com', $boot_pw), 1,
         'bootstrap admin ends able to log in');
ok t_cmp(defined admin_token(), 1, 'admin_token still works');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
