# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Failed logins and key exchanges per client address: past
# ITSMLoginMaxFailuresPerAddress within the window, every login and
# exchange from that address gets 429, whatever the e-mail address or key.
# The address is the TCP peer: X-Forwarded-For and similar headers are not
# trusted, so varying them escapes nothing. A success does not clear the
# address's count. A server of its own has a limit of 4 per address and a
# window of 3 seconds.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmLists;
use Time::HiRes qw(time sleep);

plan tests => 25;

my $WINDOW = 3;
my $server = ItsmServer->start(directives => [
    'ITSMLoginMaxFailures 1000',
    'ITSMLoginMaxFailuresPerAddress 4',
    "ITSMLoginFailureWindow $WINDOW",
    'ITSMHealthCheckInterval 0',
]);
my $user = user_with_password($server, tag => 'address');
my $res = create_key($server, undef, name => 'address');
my $key = $res->{json}{data}{key};
my $serial = 0;

# Headers that proxies use to name the client, each with another address
# on every call.
sub forwarded_headers {
    $serial++;
    my $ip = "198.51.100.$serial";
    return { 'X-Forwarded-For' => $ip, 'X-Real-IP' => $ip,
             'Forwarded' => "for=$ip", 'Client-IP' => $ip };
}

sub fail_login {
    return $server->api(POST => 'auth/login',
                        json => { email => "nobody-$$-$serial\@example.com",
                                  password => 'wrong-password' },
                        headers => forwarded_headers());
}

sub fail_exchange {
    return $server->api(POST => 'auth/api-key',
                        json => { apiKey => sprintf('itsm_%024x_%s',
                                                    ++$serial, 'D' x 43) },
                        headers => forwarded_headers());
}

sub good_login {
    return $server->api(POST => 'auth/login',
                        json => { email => $user->{email},
                                  password => $user->{password} },
                        headers => forwarded_headers());
}

sub good_exchange {
    return $server->api(POST => 'auth/api-key', json => { apiKey => $key },
                        headers => forwarded_headers());
}

sub wait_for_window {
    my ($res) = @_;
    my $retry = $res->{headers}->header('Retry-After') // $WINDOW;
    sleep($retry + 0.2);
}

# --- failed logins from one address, each with other forwarded headers ----

my @statuses = map { fail_login()->{status} } 1 .. 4;
ok t_cmp("@statuses", '401 401 401 401',
         'four failures under other e-mail addresses are 401');
$res = good_login();
ok t_cmp($res->{status}, 429, 'right password from the address is 429');
ok t_cmp($res->{json}{message}, 'Too many failed attempts; retry later',
         'address throttle message');
my $retry = $res->{headers}->header('Retry-After') // '';
ok t_cmp($retry =~ /^\d+$/ && $retry >= 1 && $retry <= $WINDOW, 1,
         'address throttle has Retry-After within the window');
$res = fail_login();
ok t_cmp($res->{status}, 429, 'another e-mail address is 429 too');
$res = good_exchange();
ok t_cmp($res->{status}, 429, 'key exchanges from the address are 429');

# A key sent directly is not throttled, and other requests pass.
$res = $server->api(GET => 'users/profile/me', token => $key);
ok t_cmp($res->{status}, 200, 'key as bearer still works');
$res = $server->api(GET => 'health');
ok t_cmp($res->{status}, 200, 'other requests are not throttled');

wait_for_window($res = good_login());
$res = good_login();
ok t_cmp($res->{status}, 200, 'login works after the window');

# --- failed exchanges count against the address too ------------------------

@statuses = map { fail_exchange()->{status} } 1 .. 4;
ok t_cmp("@statuses", '401 401 401 401',
         'four failed exchanges of unknown keys are 401');
$res = good_login();
ok t_cmp($res->{status}, 429, 'login after failed exchanges is 429');
$res = good_exchange();
ok t_cmp($res->{status}, 429, 'exchange after failed exchanges is 429');

wait_for_window($res);
$res = good_exchange();
ok t_cmp($res->{status}, 200, 'exchange works after the window');

# --- a success does not clear the address's count --------------------------

@statuses = ();
push @statuses, fail_login()->{status} for 1 .. 2;
push @statuses, good_login()->{status};
push @statuses, fail_exchange()->{status};
push @statuses, good_exchange()->{status};
push @statuses, fail_login()->{status};
ok t_cmp("@statuses", '401 401 200 401 200 401',
         'four failures around two successes');
$res = good_login();
ok t_cmp($res->{status}, 429, 'successes did not clear the address count');

# --- the counts in the database ---------------------------------------------

my %counts = map { (split /\|/)[0, 1] }
    $server->sql('SELECT subject, failures FROM auth_failures');
# Four failures, and the refused attempt after them; successes give their
# count back.
ok t_cmp($counts{'address:127.0.0.1'}, 5,
         'attempts are counted for 127.0.0.1');
ok t_cmp(scalar(grep { /198\.51\.100\./ } keys %counts), 0,
         'no forwarded address was counted');

# The audit log records the peer address as well.
my @rows = audit_rows($server, action => 'auth.login');
ok t_cmp(scalar(@rows) > 0, 1, 'logins are audited');
ok t_cmp(scalar(grep { ($_->{clientIp} // '') ne '127.0.0.1' } @rows), 0,
         'audit rows have the peer address');

# --- a new window: logins and exchanges share one count -------------------

wait_for_window($res);
@statuses = map { fail_login()->{status} } 1 .. 3;
push @statuses, good_login()->{status};
ok t_cmp("@statuses", '401 401 401 200',
         'three failures in a new window leave the address open');
$res = fail_exchange();
ok t_cmp($res->{status}, 401, 'a failed exchange is the fourth failure');
$res = good_login();
ok t_cmp($res->{status}, 429, 'login after the fourth failure is 429');
$res = fail_exchange();
ok t_cmp($res->{status}, 429, 'exchanges stay throttled');
ok t_cmp($res->{json}{success}, JSON::PP::false, '429 keeps the envelope');
ok t_cmp($serial >= 20, 1, 'forwarded headers varied on every request');
