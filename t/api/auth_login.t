# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# POST /api/auth/login: the response shape, the token it issues, failures
# that look alike for unknown addresses and wrong passwords, and input
# checks.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use Time::HiRes qw(time);

plan tests => 53;

my $now = time;
my $admin_pw = admin_password();

# Successful login.
my $res = api(POST => 'auth/login',
              json => { email => 'admin@example.com', password => $admin_pw });
ok t_cmp($res->{status}, 200, 'admin login is 200');
ok t_cmp($res->{type}, qr{^application/json}, 'login responds with JSON');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'login success is true');
ok t_cmp(scalar(($res->{json}{token} // '') =~ tr/.//), 2,
         'token has three parts');

my $user = $res->{json}{user} // {};
ok t_cmp(join(',', sort keys %$user), '_id,email,firstName,lastName,role',
         'user has the spec fields');
ok t_cmp($user->{_id}, qr/^[0-9a-f]{24}$/, 'user _id is 24 hex digits');
ok t_cmp($user->{email}, 'admin@example.com', 'user email');
ok t_cmp($user->{role}, 'admin', 'user role');
ok t_cmp($user->{firstName}, 'Admin', 'user firstName');
ok t_cmp($user->{lastName}, 'User', 'user lastName');
ok t_cmp(has_text($res->{body}, $admin_pw), 0, 'login body has no password');
ok t_cmp(has_text($res->{body}, '$argon2'), 0, 'login body has no hash');

# The issued token's claims.
my $token = $res->{json}{token};
my $claims = token_claims($token);
ok t_cmp($claims->{iss}, 'mod_itsm', 'token iss');
ok t_cmp($claims->{aud}, 'itsm-api', 'token aud');
ok t_cmp($claims->{sub}, $user->{_id}, 'token sub is the user id');
ok t_cmp($claims->{role}, 'admin', 'token role');
ok t_cmp(defined $claims->{jti} && length $claims->{jti} >= 16, 1,
         'token has a jti');
ok t_cmp(defined $claims->{ver}, 1, 'token has ver');
ok t_cmp(abs(($claims->{iat} // 0) - $now) < 60, 1, 'token iat is now');
ok t_cmp(defined $claims->{nbf}, 1, 'token has nbf');
ok t_cmp(($claims->{exp} // 0) > $now, 1, 'token exp is ahead');
ok t_cmp(($claims->{exp} // 0) - ($claims->{iat} // 0) <= 900, 1,
         'token lifetime at most 900 s');

$res = api(GET => 'users/profile/me', token => $token);
ok t_cmp($res->{status}, 200, 'issued token is accepted');

# Two logins issue different tokens (the jti differs).
my $token2 = login('admin@example.com', $admin_pw);
ok t_cmp(defined $token2 && token_claims($token2)->{jti} ne $claims->{jti},
         1, 'each login has its own jti');

# E-mail addresses are case-insensitive.
$res = api(POST => 'auth/login',
           json => { email => 'ADMIN@Example.COM', password => $admin_pw });
ok t_cmp($res->{status}, 200, 'login ignores e-mail case');

my $u = new_user(role => 'user');
$res = api(POST => 'auth/login',
           json => { email => uc $u->{email}, password => $u->{password} });
ok t_cmp($res->{status}, 200, 'new user logs in with upper case');
ok t_cmp($res->{json}{user}{_id}, $u->{id}, 'login returns that user');
ok t_cmp($res->{json}{user}{role}, 'user', 'login returns the user role');

# Wrong password and unknown address look the same.
my $wrong = api(POST => 'auth/login',
                json => { email => $u->{email}, password => 'not-the-pw-1' });
ok t_cmp($wrong->{status}, 401, 'wrong password is 401');
ok t_cmp($wrong->{json}{message}, 'Invalid credentials',
         'wrong password message');
ok t_cmp($wrong->{json}{success}, JSON::PP::false, 'wrong password success');
ok t_cmp(exists $wrong->{json}{token}, '', 'wrong password has no token');

my $unknown = api(POST => 'auth/login',
                  json => { email => unique_email('nobody'),
                            password => 'not-the-pw-1' });
ok t_cmp($unknown->{status}, 401, 'unknown e-mail is 401');
ok t_cmp($unknown->{json}{message}, 'Invalid credentials',
         'unknown e-mail message');
ok t_cmp($unknown->{body}, $wrong->{body},
         'unknown e-mail body equals wrong password body');

# Both failures run one argon2 verification, so they take comparable time.
# The medians of three tries must be within a factor of 3 of each other.
# Each try uses its own e-mail address, so that a limit on failed logins
# per e-mail address does not interfere.
sub median_login_time {
    my (@emails) = @_;
    my @times;
    for my $email (@emails) {
        my $t0 = time;
        api(POST => 'auth/login',
            json => { email => $email, password => 'not-the-pw-1' });
        push @times, time - $t0;
    }
    @times = sort { $a <=> $b } @times;
    return $times[1];
}
my $t_wrong = median_login_time(map { new_user(role => 'user')->{email} }
                                1 .. 3);
my $t_unknown = median_login_time(map { unique_email('nobody') } 1 .. 3);
t_debug(sprintf 'median wrong password %.3f s, unknown e-mail %.3f s',
        $t_wrong, $t_unknown);
ok t_cmp($t_unknown * 3 > $t_wrong, 1, 'unknown e-mail is not much faster');
ok t_cmp($t_wrong * 3 > $t_unknown, 1, 'wrong password is not much faster');

# A deactivated account gets no token, even with the right password.
my $d = new_user(role => 'user');
$res = api(PUT => "users/$d->{id}", token => admin_token(),
           json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivating a user is 200');
$res = api(POST => 'auth/login',
           json => { email => $d->{email}, password => $d->{password} });
ok t_cmp($res->{status} == 401 || $res->{status} == 403, 1,
         'deactivated user login is rejected');
ok t_cmp(exists $res->{json}{token}, '', 'deactivated user gets no token');

# Input checks: each names the field at fault.
$res = api(POST => 'auth/login', json => { password => 'whatever-long' });
ok t_cmp($res->{status}, 400, 'missing email is 400');
ok t_cmp($res->{json}{message}, qr/\bemail\b/, 'missing email is named');

$res = api(POST => 'auth/login', json => { email => 'a@example.com' });
ok t_cmp($res->{status}, 400, 'missing password is 400');
ok t_cmp($res->{json}{message}, qr/\bpassword\b/, 'missing password is named');

$res = api(POST => 'auth/login',
           json => { email => 42, password => 'whatever-long' });
ok t_cmp($res->{status}, 400, 'numeric email is 400');
ok t_cmp($res->{json}{message}, qr/\bemail\b/, 'numeric email is named');

$res = api(POST => 'auth/login',
           json => { email => 'a@example.com', password => ['x'] });
ok t_cmp($res->{status}, 400, 'array password is 400');
ok t_cmp($res->{json}{message}, qr/\bpassword\b/, 'array password is named');

$res = api(POST => 'auth/login',
           json => { email => undef, password => 'whatever-long' });
ok t_cmp($res->{status}, 400, 'null email is 400');

$res = api(POST => 'auth/login', body => '[]');
ok t_cmp($res->{status}, 400, 'array body is 400');

$res = api(POST => 'auth/login', body => '{"email":');
ok t_cmp($res->{status}, 400, 'truncated JSON is 400');

$res = api(GET => 'auth/login');
ok t_cmp($res->{status}, 405, 'GET on login is 405');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
