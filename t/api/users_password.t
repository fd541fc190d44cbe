# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# PUT /api/users/:id/password: the current password for one's own account
# (admins included), new-only for an admin on another account, length
# limits, and the end of older tokens.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 46;

my $user = new_user(role => 'user');
my $other = new_user(role => 'user');
my $integrator = new_user(role => 'integrator');
my $admin = new_user(role => 'admin');

sub set_password {
    my ($id, $token, $body) = @_;
    return api(PUT => "users/$id/password", token => $token, json => $body);
}

# Checks that the body contains none of the given passwords and no hash. Two
# assertions.
sub no_secrets {
    my ($res, $what, @passwords) = @_;
    my $leaks = grep { has_text($res->{body}, $_) } @passwords;
    ok t_cmp($leaks, 0, "$what has no password");
    ok t_cmp(has_text($res->{body}, '$argon2'), 0, "$what has no hash");
}

# A user changing its own password must give the current one.
my $new_pw = 'user-new-password-1';
my $res = set_password($user->{id}, $user->{token},
                       { newPassword => $new_pw });
ok t_cmp($res->{status}, 400, 'own change without current is 400');
ok t_cmp($res->{json}{message} // '', qr/currentPassword/,
         'missing current is named');
$res = set_password($user->{id}, $user->{token},
                    { currentPassword => 'wrong-password-1',
                      newPassword => $new_pw });
ok t_cmp($res->{status} >= 400 && $res->{status} < 500, 1,
         'wrong current password is rejected');
ok t_cmp($res->{json}{message} // '', qr/currentPassword/,
         'wrong current is named');
no_secrets($res, 'wrong current response', $new_pw, $user->{password});
ok t_cmp(defined login($user->{email}, $user->{password}), 1,
         'rejected changes kept the old password');
ok t_cmp(login($user->{email}, $new_pw), undef,
         'rejected changes set no new password');

$res = set_password($user->{id}, $user->{token},
                    { currentPassword => $user->{password},
                      newPassword => $new_pw });
ok t_cmp($res->{status}, 200, 'own change with current is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'password success is true');
ok t_cmp($res->{json}{message}, 'Password updated successfully',
         'password message');
ok t_cmp(exists $res->{json}{data}, '', 'password response has no data');
no_secrets($res, 'password response', $new_pw, $user->{password});
ok t_cmp(defined login($user->{email}, $new_pw), 1, 'new password logs in');
ok t_cmp(login($user->{email}, $user->{password}), undef,
         'old password no longer logs in');
ok t_cmp(api(GET => 'users/profile/me', token => $user->{token})->{status},
         401, 'token from before the change is 401');
$user->{password} = $new_pw;
$user->{token} = login($user->{email}, $new_pw);

# Admins too give the current password for their own account.
$res = set_password($admin->{id}, $admin->{token},
                    { newPassword => 'admin-new-password-1' });
ok t_cmp($res->{status}, 400, 'admin own change without current is 400');
ok t_cmp(login($admin->{email}, 'admin-new-password-1'), undef,
         'admin password unchanged');
$res = set_password($admin->{id}, $admin->{token},
                    { currentPassword => 'wrong-password-1',
                      newPassword => 'admin-new-password-1' });
ok t_cmp($res->{status} >= 400 && $res->{status} < 500, 1,
         'admin wrong current password is rejected');

# An admin sets another user's password without knowing it.
my $reset_pw = 'reset-by-admin-1';
$res = set_password($other->{id}, $admin->{token},
                    { newPassword => $reset_pw });
ok t_cmp($res->{status}, 200, 'admin resets another password');
ok t_cmp($res->{json}{message}, 'Password updated successfully',
         'admin reset message');
no_secrets($res, 'admin reset response', $reset_pw);
ok t_cmp(defined login($other->{email}, $reset_pw), 1,
         'reset password logs in');
ok t_cmp(api(GET => 'users/profile/me', token => $other->{token})->{status},
         401, 'token from before the reset is 401');
$other->{password} = $reset_pw;

# Nobody else may change another user's password.
$res = set_password($other->{id}, $user->{token},
                    { newPassword => 'hijacked-password-1' });
ok t_cmp($res->{status}, 403, 'user cannot set another password');
$res = set_password($other->{id}, $user->{token},
                    { currentPassword => $other->{password},
                      newPassword => 'hijacked-password-1' });
ok t_cmp($res->{status}, 403, 'user with the current one still 403');
$res = set_password($other->{id}, $integrator->{token},
                    { newPassword => 'hijacked-password-1' });
ok t_cmp($res->{status}, 403, 'integrator cannot set another password');
$res = set_password($other->{id}, undef,
                    { newPassword => 'hijacked-password-1' });
ok t_cmp($res->{status}, 401, 'no token cannot set a password');
ok t_cmp(defined login($other->{email}, $other->{password}), 1,
         'rejected changes kept the password');

# Input checks.
for my $case ([ 'missing newPassword', {}, 'newPassword' ],
              [ 'short newPassword', { newPassword => 'short77' },
                'newPassword' ],
              [ 'long newPassword', { newPassword => 'n' x 129 },
                'newPassword' ],
              [ 'numeric newPassword', { newPassword => 123456789 },
                'newPassword' ],
              [ 'unknown field password',
                { newPassword => 'valid-new-pw-1', password => 'x' },
                'password' ]) {
    my ($name, $body, $field) = @$case;
    $res = set_password($other->{id}, $admin->{token}, $body);
    ok t_cmp($res->{status}, 400, "$name is 400");
    ok t_cmp($res->{json}{message} // '', qr/\Q$field\E/,
             "$name names $field");
}
ok t_cmp(defined login($other->{email}, $other->{password}), 1,
         'rejected inputs kept the password');

$res = set_password($other->{id}, $admin->{token},
                    { newPassword => 'm' x 128 });
ok t_cmp($res->{status}, 200, '128-character password is accepted');

# Unknown and malformed ids.
$res = set_password('0' x 24, $admin->{token},
                    { newPassword => 'valid-new-pw-1' });
ok t_cmp($res->{status}, 404, 'unknown id is 404');
$res = set_password('nope', $admin->{token},
                    { newPassword => 'valid-new-pw-1' });
ok t_cmp($res->{status}, 404, 'malformed id is 404');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
