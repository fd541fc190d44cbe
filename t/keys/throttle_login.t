# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Failed logins per e-mail address: past ITSMLoginMaxFailures within
# ITSMLoginFailureWindow, every login for that address gets 429 with
# Retry-After and the JSON envelope until the window ends. An unknown
# address gets the same 429, and a successful login clears the count. A
# server of its own has a limit of 3 and a window of 3 seconds.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest qw(has_text);
use ItsmServer;
use ItsmLists;
use Time::HiRes qw(time sleep);

plan tests => 37;

my $WINDOW = 3;
my $server = ItsmServer->start(directives => [
    'ITSMLoginMaxFailures 3',
    'ITSMLoginMaxFailuresPerAddress 1000',
    "ITSMLoginFailureWindow $WINDOW",
    'ITSMHealthCheckInterval 0',
]);

sub login_as {
    my ($email, $password) = @_;
    return $server->api(POST => 'auth/login',
                        json => { email => $email, password => $password });
}

# Checks a 429 response: status, envelope, Retry-After within the window.
sub is_throttled {
    my ($res, $label) = @_;
    my $retry = $res->{headers}->header('Retry-After') // '';
    ok t_cmp($res->{status}, 429, "$label is 429");
    ok t_cmp($res->{type}, qr{^application/json}, "$label is JSON");
    ok t_cmp($res->{json}{success}, JSON::PP::false, "$label success false");
    ok t_cmp($res->{json}{message}, 'Too many failed attempts; retry later',
             "$label message");
    ok t_cmp($retry =~ /^\d+$/ && $retry >= 1 && $retry <= $WINDOW, 1,
             "$label Retry-After is 1 to $WINDOW seconds");
    ok t_cmp(exists $res->{json}{token}, '', "$label has no token");
}

my $user = user_with_password($server, tag => 'throttled');
my $other = user_with_password($server, tag => 'bystander');

# --- a known address --------------------------------------------------------

my $window_start = time;
for my $n (1 .. 3) {
    my $res = login_as($user->{email}, "wrong-password-$n");
    ok t_cmp($res->{status}, 401, "failure $n of a known address is 401");
}
my $known = login_as($user->{email}, $user->{password});
is_throttled($known, 'right password after 3 failures');
my $res = login_as($user->{email}, 'wrong-password-4');
ok t_cmp($res->{status}, 429, 'wrong password after 3 failures is 429');
$res = login_as(uc $user->{email}, $user->{password});
ok t_cmp($res->{status}, 429, 'upper-case address is throttled as well');
$res = login_as($other->{email}, $other->{password});
ok t_cmp($res->{status}, 200, 'another address still logs in');

# --- an unknown address gets the same answer ------------------------------

my $nobody = "nobody-$$-" . time . '@example.com';
for my $n (1 .. 3) {
    $res = login_as($nobody, "wrong-password-$n");
    ok t_cmp($res->{status}, 401, "failure $n of an unknown address is 401");
}
my $unknown = login_as($nobody, 'wrong-password-4');
is_throttled($unknown, 'unknown address after 3 failures');
ok t_cmp($unknown->{body}, $known->{body},
         'unknown and known addresses get the same 429 body');

# --- a successful login clears the count ----------------------------------

my $resets = user_with_password($server, tag => 'resets');
my @statuses;
for my $password ('wrong-1', 'wrong-2', $resets->{password},
                  'wrong-3', 'wrong-4') {
    push @statuses, login_as($resets->{email}, $password)->{status};
}
ok t_cmp("@statuses", '401 401 200 401 401',
         'a success between failures clears the count');
$res = login_as($resets->{email}, 'wrong-5');
ok t_cmp($res->{status}, 401, 'third failure after a success is 401');
$res = login_as($resets->{email}, $resets->{password});
ok t_cmp($res->{status}, 429, 'three failures after a success throttle');

# --- the window ends ------------------------------------------------------

my $later = user_with_password($server, tag => 'later');
my $stranger = "stranger-$$-" . time . '@example.com';
my $first_failure = time;
for my $n (1 .. 3) {
    login_as($later->{email}, "wrong-password-$n");
    login_as($stranger, "wrong-password-$n");
}
$res = login_as($later->{email}, $later->{password});
ok t_cmp($res->{status}, 429, 'throttled at once after 3 failures');
$res = login_as($stranger, 'wrong-password-4');
ok t_cmp($res->{status}, 429, 'unknown address throttled at once');
my $retry = $res->{headers}->header('Retry-After') // $WINDOW;
t_debug(sprintf '3 failures took %.2f s of the %d s window',
        time - $first_failure, $WINDOW);
sleep($retry + 0.2);
ok t_cmp(time - $first_failure >= $WINDOW, 1,
         'Retry-After reaches the end of the window');
$res = login_as($later->{email}, $later->{password});
ok t_cmp($res->{status}, 200, 'right password works after the window');
$res = login_as($stranger, 'wrong-password-5');
ok t_cmp($res->{status}, 401, 'unknown address: a new window starts');

# A failure in the new window counts from 1 again.
$res = login_as($later->{email}, 'wrong-password-6');
ok t_cmp($res->{status}, 401, 'one failure in a new window is 401');
$res = login_as($later->{email}, $later->{password});
ok t_cmp($res->{status}, 200, 'one failure in a new window does not throttle');

# --- what the server recorded ----------------------------------------------

my @throttled = grep { ($_->{details}{reason} // '') eq 'throttled' }
    audit_rows($server, action => 'auth.login');
ok t_cmp(scalar(grep { lc($_->{details}{email} // '') eq $user->{email} }
                @throttled) >= 1, 1,
         'throttled login of a known address is audited');
ok t_cmp(scalar(grep { ($_->{details}{email} // '') eq $nobody }
                @throttled) >= 1, 1,
         'throttled login of an unknown address is audited');
ok t_cmp(scalar(grep { $_->{outcome} ne 'failure' } @throttled), 0,
         'throttled logins are failures');

my $log = $server->error_log;
ok t_cmp(has_text($log, $user->{password}), 0, 'error log has no password');
ok t_cmp(scalar(grep { has_text($log, $_->{password}) }
                $other, $resets, $later), 0,
         'error log has no password of the other users');
