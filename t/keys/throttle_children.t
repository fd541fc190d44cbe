# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Failure counts live in the database, so every httpd child sees the same
# counts. A prefork server of its own with four children serves failed
# logins from eight client processes, each on a new connection per
# request; the children together let through no more failures than the
# limit plus the requests that were in flight when it was reached, and
# every failure that was answered 401 was counted.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmLists;
use POSIX ();

plan tests => 14;

my $CHILDREN = 4;
my $CLIENTS = 8;
my $PER_CLIENT = 5;
my $MAX_EMAIL = 6;
my $MAX_ADDRESS = 30;

my $server = ItsmServer->start(
    mpm => 'prefork', processes => $CHILDREN,
    directives => [
        "ITSMLoginMaxFailures $MAX_EMAIL",
        "ITSMLoginMaxFailuresPerAddress $MAX_ADDRESS",
        'ITSMLoginFailureWindow 600',
        'ITSMHealthCheckInterval 0',
        # The pid of the child that served each request, and its status.
        'CustomLog served.log "%P %>s %U"',
    ]);
my $user = user_with_password($server, tag => 'children');

# Runs $CLIENTS processes that each send $PER_CLIENT requests made by
# $body_of->($client, $n), and returns the response statuses.
sub run_clients {
    my ($body_of) = @_;
    my @readers;
    for my $client (1 .. $CLIENTS) {
        pipe my $reader, my $writer or die "pipe failed: $!\n";
        my $pid = fork;
        die "fork failed: $!\n" unless defined $pid;
        if ($pid == 0) {
            close $reader;
            my $ua = LWP::UserAgent->new(keep_alive => 0, timeout => 60);
            for my $n (1 .. $PER_CLIENT) {
                my $res = $ua->post($server->url('/api/auth/login'),
                                    'Content-Type' => 'application/json',
                                    Content => $body_of->($client, $n));
                print {$writer} $res->code, "\n";
            }
            close $writer;
            POSIX::_exit(0);
        }
        close $writer;
        push @readers, [ $pid, $reader ];
    }
    my @statuses;
    for my $r (@readers) {
        my ($pid, $reader) = @$r;
        push @statuses, map { chomp; $_ } <$reader>;
        close $reader;
        waitpid $pid, 0;
    }
    return @statuses;
}

sub count_of {
    my ($status, @statuses) = @_;
    return scalar grep { $_ == $status } @statuses;
}

sub failures_of {
    my ($subject) = @_;
    my ($n) = $server->sql("SELECT failures FROM auth_failures "
                           . "WHERE subject = '$subject'");
    return $n // 0;
}

# --- one e-mail address from many connections ------------------------------

my @statuses = run_clients(sub {
    my ($client, $n) = @_;
    return qq({"email":"$user->{email}","password":"wrong-$client-$n"});
});
my $rejected = count_of(401, @statuses);
my $throttled = count_of(429, @statuses);
t_debug("one address: $rejected answered 401, $throttled answered 429");
ok t_cmp(scalar @statuses, $CLIENTS * $PER_CLIENT, 'every request answered');
ok t_cmp($rejected + $throttled, scalar @statuses,
         'every answer is 401 or 429');
# Every attempt is counted before the password is checked, so requests
# that arrive together cannot all get past the limit.
ok t_cmp($rejected >= 1, 1, 'some attempts were checked');
ok t_cmp($rejected <= $MAX_EMAIL, 1, 'no more failures than the limit');
ok t_cmp(failures_of('login:' . lc $user->{email}), scalar @statuses,
         'every attempt was counted once');

my $res = $server->api(POST => 'auth/login',
                       json => { email => $user->{email},
                                 password => $user->{password} });
ok t_cmp($res->{status}, 429, 'right password afterwards is 429');

# The requests were spread over the children.
my %pids;
if (open my $log, '<', $server->dir . '/served.log') {
    while (<$log>) {
        my ($pid, $status, $path) = split;
        $pids{$pid}++ if $path eq '/api/auth/login' && $status =~ /^4/;
    }
    close $log;
}
t_debug('requests per child: ' . join ' ', map { $pids{$_} } sort keys %pids);
ok t_cmp(scalar(keys %pids) >= 2, 1, 'at least two children served them');

# --- one client address, many e-mail addresses ------------------------------

my $address_before = failures_of('address:127.0.0.1');
# The refused login with the right password counted as well.
ok t_cmp($address_before, scalar(@statuses) + 1,
         'the address counted the same attempts');
@statuses = run_clients(sub {
    my ($client, $n) = @_;
    return qq({"email":"nobody-$client-$n\@example.com","password":"x-$n"});
});
$rejected = count_of(401, @statuses);
$throttled = count_of(429, @statuses);
my $total = $address_before + scalar @statuses;
t_debug("many addresses: $rejected answered 401, $throttled answered 429");
ok t_cmp($rejected + $throttled, scalar @statuses,
         'every answer is 401 or 429');
# The first round's attempts alone passed the address limit, so every
# attempt of this round is refused before any password is checked.
ok t_cmp($address_before > $MAX_ADDRESS ? 1 : 0, 1,
         'the address limit was passed');
ok t_cmp($rejected, 0, 'no address failures past the limit');
ok t_cmp(failures_of('address:127.0.0.1'), $total,
         'every attempt was counted for the address');

$res = $server->api(POST => 'auth/login',
                    json => { email => 'someone-else@example.com',
                              password => 'wrong' });
ok t_cmp($res->{status}, 429, 'the address is throttled for everyone');
ok t_cmp($server->error_log =~ /ITSM00014/ ? 1 : 0, 0,
         'no failure went uncounted (ITSM00014)');
