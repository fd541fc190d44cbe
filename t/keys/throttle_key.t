# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Failed exchanges of POST /api/auth/api-key are counted per key id like
# failed logins per e-mail address: past ITSMLoginMaxFailures within the
# window, 429 with Retry-After, the same for an unknown key id, and a
# successful exchange clears the count. A key sent directly as bearer
# credentials is not throttled. A server of its own has a limit of 3 and
# a window of 3 seconds.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest qw(has_text);
use ItsmServer;
use ItsmLists;
use Time::HiRes qw(time sleep);

plan tests => 29;

my $WINDOW = 3;
my $server = ItsmServer->start(directives => [
    'ITSMLoginMaxFailures 3',
    'ITSMLoginMaxFailuresPerAddress 1000',
    "ITSMLoginFailureWindow $WINDOW",
    'ITSMHealthCheckInterval 0',
]);

sub exchange {
    my ($key) = @_;
    return $server->api(POST => 'auth/api-key', json => { apiKey => $key });
}

sub new_key {
    my ($name) = @_;
    my $res = create_key($server, undef, name => $name);
    die "creating a key failed: HTTP $res->{status}\n"
        unless $res->{status} == 201;
    return ($res->{json}{data}{key}, $res->{json}{data}{_id});
}

# The key with its last secret character changed.
sub wrong_secret {
    my ($key, $n) = @_;
    my $c = substr('ABCDEFGHIJ', $n % 10, 1);
    $c = 'Z' if $c eq substr($key, -1);
    return substr($key, 0, -1) . $c;
}

# --- a known key -----------------------------------------------------------

my ($key, $key_id) = new_key('throttled');
my $first_failure = time;
for my $n (1 .. 3) {
    my $res = exchange(wrong_secret($key, $n));
    ok t_cmp($res->{status}, 401, "wrong secret $n is 401");
}
my $known = exchange($key);
ok t_cmp($known->{status}, 429, 'right key after 3 failures is 429');
ok t_cmp($known->{json}{message}, 'Too many failed attempts; retry later',
         'throttled exchange message');
ok t_cmp($known->{json}{success}, JSON::PP::false,
         'throttled exchange success false');
my $retry = $known->{headers}->header('Retry-After') // '';
ok t_cmp($retry =~ /^\d+$/ && $retry >= 1 && $retry <= $WINDOW, 1,
         'throttled exchange has Retry-After within the window');
ok t_cmp(exists $known->{json}{token}, '', 'throttled exchange has no token');

# Sent directly, the key still works: its secret cannot be guessed, so it
# is not throttled.
my $res = $server->api(GET => 'users/profile/me', token => $key);
ok t_cmp($res->{status}, 200, 'throttled key still works as bearer');

# Another key is not affected.
my ($bystander) = new_key('bystander');
$res = exchange($bystander);
ok t_cmp($res->{status}, 200, 'another key is still exchanged');

# --- an unknown key id gets the same answer ---------------------------------

my $unknown = sprintf 'itsm_%024x_%s', $$, 'C' x 43;
for my $n (1 .. 3) {
    $res = exchange(wrong_secret($unknown, $n));
    ok t_cmp($res->{status}, 401, "unknown key failure $n is 401");
}
my $unknown_res = exchange($unknown);
ok t_cmp($unknown_res->{status}, 429, 'unknown key after 3 failures is 429');
ok t_cmp($unknown_res->{body}, $known->{body},
         'unknown and known keys get the same 429 body');

# Revoked keys are counted like any other failure.
my ($revoked, $revoked_id) = new_key('revoked');
$server->api(DELETE => "auth/api-keys/$revoked_id",
             token => $server->login_admin);
my @statuses = map { exchange($revoked)->{status} } 1 .. 4;
ok t_cmp("@statuses", '401 401 401 429', 'revoked key is throttled too');

# --- a successful exchange clears the key's count -------------------------

my ($resets) = new_key('resets');
@statuses = map { exchange($_)->{status} }
    wrong_secret($resets, 1), wrong_secret($resets, 2), $resets,
    wrong_secret($resets, 3), wrong_secret($resets, 4);
ok t_cmp("@statuses", '401 401 200 401 401',
         'a success between failures clears the count');
$res = exchange(wrong_secret($resets, 5));
ok t_cmp($res->{status}, 401, 'third failure after a success is 401');
$res = exchange($resets);
ok t_cmp($res->{status}, 429, 'three failures after a success throttle');

# --- the window ends ------------------------------------------------------

$res = exchange($key);
ok t_cmp($res->{status}, 429, 'known key still throttled');
$retry = $res->{headers}->header('Retry-After') // $WINDOW;
sleep($retry + 0.2);
ok t_cmp(time - $first_failure >= $WINDOW, 1,
         'Retry-After reaches the end of the window');
$res = exchange($key);
ok t_cmp($res->{status}, 200, 'key is exchanged after the window');
$res = exchange(wrong_secret($unknown, 4));
ok t_cmp($res->{status}, 401, 'unknown key: a new window starts');

# --- what the server recorded ----------------------------------------------

my @failures = grep { $_->{outcome} eq 'failure' }
    audit_rows($server, action => 'auth.api_key');
my @throttled = grep { ($_->{details}{reason} // '') eq 'throttled' }
    @failures;
my @rejected = grep { ($_->{details}{reason} // '') ne 'throttled' }
    @failures;
ok t_cmp(scalar(@rejected), 15, 'each rejected exchange is audited');
ok t_cmp(scalar(@throttled), 5, 'each throttled exchange is audited');
ok t_cmp(scalar(grep { ($_->{targetId} // '') eq $key_id } @rejected), 3,
         'rejected exchanges name the key id');
ok t_cmp(scalar(grep { ($_->{targetId} // '') eq $key_id } @throttled), 2,
         'throttled exchanges name the key id');
ok t_cmp(scalar(grep { $_->{targetType} ne 'api_key' } @failures), 0,
         'failed exchanges have the target type api_key');

my $log = $server->error_log;
ok t_cmp(scalar(grep { has_text($log, (key_parts($_))[1]) }
                $key, $bystander, $revoked, $resets), 0,
         'error log has no key secret');
