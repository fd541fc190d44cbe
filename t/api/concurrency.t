# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Parallel writers: no request fails with a 500 (a 503 with Retry-After is
# allowed), every write acknowledged with 201 or 200 is stored, and a taken
# address stays unique when several processes claim it at once.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 23;

use constant WRITERS => 8;
use constant CREATIONS => 10;
use constant READERS => 2;
use constant READS => 20;

my $admin = admin_token();
my $run = "conc$$";

# Runs each job in its own process and returns the lines they print, one
# list per job, and how many processes exited non-zero.
sub run_parallel {
    my (@jobs) = @_;
    my @children;
    for my $job (@jobs) {
        pipe my $read, my $write or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $read;
            my $ok = eval { $job->($write); 1 };
            close $write;
            exit($ok ? 0 : 1);
        }
        close $write;
        push @children, [ $pid, $read ];
    }
    my (@output, $failed);
    $failed = 0;
    for my $child (@children) {
        my ($pid, $read) = @$child;
        my @lines = <$read>;
        chomp @lines;
        close $read;
        waitpid $pid, 0;
        $failed++ if $? != 0;
        push @output, \@lines;
    }
    return (\@output, $failed);
}

# Writers create users while readers read a profile.
my @jobs;
for my $w (1 .. WRITERS) {
    push @jobs, sub {
        my ($out) = @_;
        for (1 .. CREATIONS) {
            my $email = unique_email($run);
            my $res = api(POST => 'users', token => $admin,
                          json => { firstName => 'Con', lastName => "W$w",
                                    email => $email,
                                    password => 'concurrent-pw-1',
                                    role => 'user' });
            my $retry = $res->{headers}->header('Retry-After') // '';
            my $id = $res->{json}{data}{_id} // '';
            print {$out} join("\t", 'create', $res->{status}, $email, $id,
                              $retry), "\n";
        }
    };
}
for (1 .. READERS) {
    push @jobs, sub {
        my ($out) = @_;
        for (1 .. READS) {
            my $res = api(GET => 'users/profile/me', token => $admin);
            my $retry = $res->{headers}->header('Retry-After') // '';
            print {$out} join("\t", 'read', $res->{status}, '', '', $retry),
                "\n";
        }
    };
}
my ($output, $failed) = run_parallel(@jobs);
ok t_cmp($failed, 0, 'every client process finished');

my @results = map { [ split /\t/, $_, -1 ] } map { @$_ } @$output;
my @creates = grep { $_->[0] eq 'create' } @results;
my @reads = grep { $_->[0] eq 'read' } @results;
ok t_cmp(scalar @creates, WRITERS * CREATIONS,
         'every creation has a response');
ok t_cmp(scalar @reads, READERS * READS, 'every read has a response');

my $server_errors = grep { $_->[1] >= 500 && $_->[1] != 503 } @results;
ok t_cmp($server_errors, 0, 'no 5xx other than 503');
my $odd_creates = grep { $_->[1] != 201 && $_->[1] != 503 } @creates;
ok t_cmp($odd_creates, 0, 'creations are 201 or 503');
my $odd_reads = grep { $_->[1] != 200 && $_->[1] != 503 } @reads;
ok t_cmp($odd_reads, 0, 'reads are 200 or 503');
my $bare_503 = grep { $_->[1] == 503 && $_->[4] eq '' } @results;
ok t_cmp($bare_503, 0, 'every 503 has Retry-After');

my @created = grep { $_->[1] == 201 } @creates;
t_debug(sprintf '%d of %d creations returned 201', scalar @created,
        scalar @creates);
ok t_cmp(scalar @created > 0, 1, 'some creations succeed');

# No lost write and no phantom one.
my %stored = map { lc($_->{email}) => $_->{_id} } all_users();
my $lost = grep { ($stored{ lc $_->[2] } // '') ne $_->[3] } @created;
ok t_cmp($lost, 0, 'every 201 user is stored with its id');
my %ids = map { $_->[3] => 1 } @created;
ok t_cmp(scalar keys %ids, scalar @created, 'every 201 has its own id');
my $ours = grep { /^\Q$run\E-/ } keys %stored;
ok t_cmp($ours, scalar @created, 'no user stored without a 201');

my @sample = @created[0 .. 1];
my $logins = grep { defined login($_->[2], 'concurrent-pw-1') } @sample;
ok t_cmp($logins, scalar @sample, 'created users can log in');

# One address claimed by every writer at once: one 201, the rest 400.
my $email = unique_email("$run-same");
($output, $failed) = run_parallel(map {
    my $w = $_;
    sub {
        my ($out) = @_;
        my $res = api(POST => 'users', token => $admin,
                      json => { firstName => 'Same', lastName => "W$w",
                                email => $w % 2 ? uc $email : $email,
                                password => 'concurrent-pw-1',
                                role => 'user' });
        print {$out} join("\t", $res->{status}, $res->{json}{message} // ''),
            "\n";
    }
} 1 .. WRITERS);
ok t_cmp($failed, 0, 'every duplicate client finished');
my @dups = map { [ split /\t/, $_ ] } map { @$_ } @$output;
my $dup_created = grep { $_->[0] == 201 } @dups;
ok t_cmp($dup_created, 1, 'one duplicate claim wins');
my $dup_rejected = grep { $_->[0] == 400 && $_->[1] eq 'Email already in use'
                         || $_->[0] == 503 } @dups;
ok t_cmp($dup_rejected, WRITERS - 1, 'the other claims are rejected');
my $dup_stored = grep { lc($_->{email}) eq lc $email } all_users();
ok t_cmp($dup_stored, 1, 'the address is stored once');

# Parallel updates of one user: each 200 is a stored state.
my $target = new_user(role => 'user');
($output, $failed) = run_parallel(map {
    my $w = $_;
    sub {
        my ($out) = @_;
        for my $i (1 .. 5) {
            my $res = api(PUT => "users/$target->{id}", token => $admin,
                          json => { firstName => "W$w-$i" });
            print {$out} join("\t", $res->{status},
                              $res->{headers}->header('Retry-After') // ''),
                "\n";
        }
    }
} 1 .. WRITERS);
ok t_cmp($failed, 0, 'every updating client finished');
my @updates = map { [ split /\t/, $_, -1 ] } map { @$_ } @$output;
ok t_cmp(scalar @updates, WRITERS * 5, 'every update has a response');
# 409: another writer changed the row after this one read it.
my $odd_updates = grep { $_->[0] != 200 && $_->[0] != 503 && $_->[0] != 409 }
                  @updates;
ok t_cmp($odd_updates, 0, 'updates are 200, 409 or 503');
my $bare_update_503 = grep { $_->[0] == 503 && $_->[1] eq '' } @updates;
ok t_cmp($bare_update_503, 0, 'every update 503 has Retry-After');
my $final = api(GET => "users/$target->{id}", token => $admin);
ok t_cmp($final->{json}{data}{firstName}, qr/^W\d+-\d$/,
         'final name is one that was written');
ok t_cmp(api(GET => 'users/profile/me', token => $target->{token})->{status},
         200, 'updated user token still works');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
