# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# POST /api/auth/api-key: a valid key returns a JWT that acts for the
# key's user; an unknown, revoked, expired or malformed key gets the same
# 401 "Invalid API key" in about the same time.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmLists;
use Time::HiRes qw(time sleep);

plan tests => 44;

my $admin = admin_token();
my $integrator = new_user(role => 'integrator');

my $res = create_key(undef, $admin, name => 'exchange',
                     userId => $integrator->{id});
my $key = $res->{json}{data}{key};
my $key_id = $res->{json}{data}{_id};

# --- a valid key ------------------------------------------------------------

my $t0 = time;
$res = api(POST => 'auth/api-key', json => { apiKey => $key });
ok t_cmp($res->{status}, 200, 'valid key is 200');
ok t_cmp($res->{type}, qr{^application/json}, 'exchange responds with JSON');
ok t_cmp(join(',', sort keys %{ $res->{json} // {} }), 'success,token',
         'exchange returns success and token');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'exchange success is true');
my $token = $res->{json}{token} // '';
ok t_cmp(scalar($token =~ tr/.//), 2, 'exchanged token is a JWT');
ok t_cmp(has_text($res->{body}, $key), 0, 'response does not repeat the key');

my $claims = token_claims($token);
ok t_cmp($claims->{sub}, $integrator->{id}, 'token sub is the key user');
ok t_cmp($claims->{role}, 'integrator', 'token role is the user role');
ok t_cmp($claims->{kid}, $key_id, 'token names the key');
ok t_cmp(($claims->{exp} // 0) > $t0, 1, 'token exp is ahead');
ok t_cmp(($claims->{exp} // 0) - ($claims->{iat} // 0) <= 900, 1,
         'token lives at most ITSMTokenLifetime');

$res = api(GET => 'users/profile/me', token => $token);
ok t_cmp($res->{status}, 200, 'exchanged token is accepted');
ok t_cmp($res->{json}{data}{_id}, $integrator->{id},
         'exchanged token acts for the key user');
$res = api(GET => 'integration', token => $token);
ok t_cmp($res->{status}, 200, 'exchanged token has the integrator rights');
$res = api(GET => 'users', token => $token);
ok t_cmp($res->{status}, 403, 'exchanged token has no admin rights');

$res = api(POST => 'auth/api-key', json => { apiKey => $key });
ok t_cmp($res->{status}, 200, 'a key can be exchanged again');
ok t_cmp(token_claims($res->{json}{token})->{jti} ne $claims->{jti}, 1,
         'each exchange issues a new token');

# --- invalid keys: one answer for all -----------------------------------

my $unknown = 'itsm_0123456789abcdef01234567_'
    . ('A' x 43);
my $wrong_secret = substr($key, 0, -1)
    . (substr($key, -1) eq 'A' ? 'B' : 'A');

sub revoked_key {
    my $res = create_key(undef, $admin, name => 'to revoke');
    api(DELETE => "auth/api-keys/$res->{json}{data}{_id}", token => $admin);
    return $res->{json}{data}{key};
}

# Keys that expire in two seconds; used once they have.
my $expiry = time + 2;
my @expired = map {
    create_key(undef, $admin, name => "expires $_",
               expiresAt => iso_time($expiry))->{json}{data}{key}
} 1 .. 6;
my @revoked = map { revoked_key() } 1 .. 6;
sleep($expiry + 1 - time) if $expiry + 1 > time;

my %bodies;
for my $case ([ 'unknown key', $unknown ],
              [ 'wrong secret', $wrong_secret ],
              [ 'revoked key', $revoked[0] ],
              [ 'expired key', $expired[0] ],
              [ 'malformed key', 'not-a-key' ],
              [ 'truncated key', substr($key, 0, 20) ],
              [ 'empty key', '' ]) {
    my ($label, $candidate) = @$case;
    $res = api(POST => 'auth/api-key', json => { apiKey => $candidate });
    ok t_cmp($res->{status}, 401, "$label is 401");
    ok t_cmp($res->{json}{message}, 'Invalid API key', "$label message");
    $bodies{ $res->{body} }++;
}
ok t_cmp(scalar keys %bodies, 1, 'every invalid key gets the same body');

# Input checks.
$res = api(POST => 'auth/api-key', json => {});
ok t_cmp($res->{status}, 400, 'missing apiKey is 400');
ok t_cmp($res->{json}{message}, qr/\bapiKey\b/, 'missing apiKey is named');
$res = api(POST => 'auth/api-key', json => { apiKey => 42 });
ok t_cmp($res->{status}, 400, 'numeric apiKey is 400');
ok t_cmp($res->{json}{message}, qr/\bapiKey\b/, 'numeric apiKey is named');
$res = api(GET => 'auth/api-key');
ok t_cmp($res->{status}, 405, 'GET on the exchange is 405');

# --- timing ---------------------------------------------------------------

# Unknown, revoked and expired keys take about the same time: the medians
# of five tries must be within a factor of 3 of each other. Each try uses
# another key, so that the limit of failed exchanges per key is not
# reached.
sub median_exchange_time {
    my (@candidates) = @_;
    my @times;
    for my $candidate (@candidates) {
        my $start = time;
        my $res = api(POST => 'auth/api-key',
                      json => { apiKey => $candidate });
        push @times, time - $start;
        die "exchange answered $res->{status}, not 401\n"
            unless $res->{status} == 401;
    }
    @times = sort { $a <=> $b } @times;
    return $times[int(@times / 2)];
}
my @unknown = map { sprintf 'itsm_%024x_%s', $_, 'B' x 43 } 1 .. 5;
my %median = (
    unknown => median_exchange_time(@unknown),
    revoked => median_exchange_time(@revoked[1 .. 5]),
    expired => median_exchange_time(@expired[1 .. 5]),
);
t_debug(sprintf 'median %s %.4f s', $_, $median{$_}) for sort keys %median;
for my $pair ([qw(unknown revoked)], [qw(unknown expired)],
              [qw(revoked expired)]) {
    my ($x, $y) = @$pair;
    ok t_cmp($median{$x} * 3 > $median{$y}, 1,
             "$x is not much faster than $y");
    ok t_cmp($median{$y} * 3 > $median{$x}, 1,
             "$y is not much faster than $x");
}

ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
