# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# An update computed from an earlier read must not undo a change made in
# between: a user who keeps renaming themselves cannot revert an admin's
# deactivation, and a manager cannot revert an admin's change of the
# managers list.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;

use constant ROUNDS => 6;

plan tests => 2 * ROUNDS + 2;

my $admin = admin_token();

sub renamer {
    my ($path, $token, $member) = @_;
    my $pid = fork() // die "fork failed: $!";
    return $pid if $pid;
    for my $i (1 .. 40) {
        api(PUT => $path, token => $token, json => { $member => "r$i" });
    }
    exit 0;
}

for my $round (1 .. ROUNDS) {
    my $user = new_user(role => 'user');
    my $pid = renamer("users/$user->{id}", $user->{token}, 'firstName');
    select undef, undef, undef, 0.05;
    my $res = api(PUT => "users/$user->{id}", token => $admin,
                  json => { isActive => JSON::PP::false });
    waitpid $pid, 0;
    my $final = api(GET => "users/$user->{id}", token => $admin);
    # The admin's request may itself lose a race (409), but then nothing
    # of it was applied; once it got 200, the user stays inactive.
    ok t_cmp($res->{status} == 200 ? ($final->{json}{data}{isActive}
                                      ? 'active' : 'inactive')
             : $res->{status}, qr/^(inactive|409)$/,
             "round $round deactivation holds");
    ok t_cmp(api(GET => 'users/profile/me', token => $user->{token})->{status}
             == 200 && $res->{status} == 200 ? 'token works' : 'ok',
             'ok', "round $round token ends");
}

my $manager = new_user(role => 'user');
my $it = create_integration($admin, managers => [ $manager->{id} ]);
my $pid = renamer("integration/$it->{_id}", $manager->{token}, 'description');
select undef, undef, undef, 0.05;
my $res;
for (1 .. 5) {
    $res = api(PUT => "integration/$it->{_id}", token => $admin,
               json => { managers => [] });
    last if $res->{status} == 200;
}
waitpid $pid, 0;
ok t_cmp($res->{status}, 200, 'admin removes the manager');
ok t_cmp(scalar @{ api(GET => "integration/$it->{_id}",
                       token => $admin)->{json}{data}{managers} || [] }, 0,
         'manager removal holds');
