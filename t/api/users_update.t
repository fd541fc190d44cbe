# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# PUT /api/users/:id: who may change what, input checks, unknown fields
# (mass assignment) and unique e-mail addresses.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 85;

my $admin = admin_token();
my $user = new_user(role => 'user');
my $other = new_user(role => 'user');
my $integrator = new_user(role => 'integrator');

sub update {
    my ($id, $token, $body) = @_;
    return api(PUT => "users/$id", token => $token, json => $body);
}

sub stored {
    my ($id) = @_;
    return api(GET => "users/$id", token => $admin)->{json}{data} // {};
}

# A user changes its own names and address.
my $before = stored($user->{id});
my $email = unique_email('renamed');
my $res = update($user->{id}, $user->{token},
                 { firstName => 'Renamed', lastName => 'Person',
                   email => $email });
ok t_cmp($res->{status}, 200, 'user updates self');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'update success is true');
ok t_cmp($res->{json}{message}, 'User updated successfully',
         'update message');
ok t_cmp($res->{json}{data}{firstName}, 'Renamed', 'response firstName');
ok t_cmp($res->{json}{data}{email}, $email, 'response email');
ok t_cmp($res->{json}{data}{role}, 'user', 'response role unchanged');
ok t_cmp($res->{json}{data}{createdAt}, $before->{createdAt},
         'createdAt unchanged');
ok t_cmp($res->{json}{data}{updatedAt} gt $before->{updatedAt}, 1,
         'updatedAt advances');
ok t_cmp(has_text($res->{body}, $user->{password}), 0,
         'update body has no password');
ok t_cmp(has_text($res->{body}, '$argon2'), 0, 'update body has no hash');
my $now = stored($user->{id});
ok t_cmp($now->{lastName}, 'Person', 'lastName is stored');
ok t_cmp($now->{email}, $email, 'email is stored');
ok t_cmp(defined login($email, $user->{password}), 1,
         'user logs in with the new address');
ok t_cmp(login($user->{email}, $user->{password}), undef,
         'old address no longer logs in');
$user->{email} = $email;
ok t_cmp(api(GET => 'users/profile/me', token => $user->{token})->{status},
         200, 'token survives a name change');

# The same address in another case belongs to the same user.
$res = update($user->{id}, $user->{token}, { email => uc $email });
ok t_cmp($res->{status}, 200, 'changing own address case is 200');
ok t_cmp(stored($user->{id})->{email}, uc $email, 'address case is stored');

# Role and isActive: admins only, all or nothing.
for my $change ({ role => 'admin' }, { role => 'user' },
                { isActive => JSON::PP::true },
                { isActive => JSON::PP::false }) {
    my ($field) = keys %$change;
    my $value = $change->{$field};
    $res = update($user->{id}, $user->{token},
                  { firstName => 'Sneaky', %$change });
    ok t_cmp($res->{status}, 403, "user sending $field=$value is 403");
    ok t_cmp($res->{json}{message}, 'Access denied',
             "user sending $field=$value message");
}
$now = stored($user->{id});
ok t_cmp($now->{firstName}, 'Renamed', 'rejected update changed no name');
ok t_cmp($now->{role}, 'user', 'rejected update changed no role');
ok t_cmp($now->{isActive}, JSON::PP::true,
         'rejected update changed no isActive');

$res = update($integrator->{id}, $integrator->{token},
              { role => 'admin' });
ok t_cmp($res->{status}, 403, 'integrator cannot promote self');
ok t_cmp(stored($integrator->{id})->{role}, 'integrator',
         'integrator role unchanged');

# Other users' records.
$res = update($other->{id}, $user->{token}, { firstName => 'Hijacked' });
ok t_cmp($res->{status}, 403, 'user cannot update another');
$res = update($other->{id}, $integrator->{token},
              { firstName => 'Hijacked' });
ok t_cmp($res->{status}, 403, 'integrator cannot update another');
$res = update($other->{id}, undef, { firstName => 'Hijacked' });
ok t_cmp($res->{status}, 401, 'no token cannot update');
ok t_cmp(stored($other->{id})->{firstName}, 'Test',
         'rejected updates changed nothing');

# Admins set role and isActive.
$res = update($other->{id}, $admin, { role => 'integrator' });
ok t_cmp($res->{status}, 200, 'admin sets a role');
ok t_cmp($res->{json}{data}{role}, 'integrator', 'new role is returned');
ok t_cmp(stored($other->{id})->{role}, 'integrator', 'new role is stored');
my $other_token = login($other->{email}, $other->{password});
$res = update($other->{id}, $admin, { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'admin deactivates a user');
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::false,
         'deactivation is returned');
ok t_cmp(login($other->{email}, $other->{password}), undef,
         'deactivated user cannot log in');
$res = update($other->{id}, $admin, { isActive => JSON::PP::true });
ok t_cmp($res->{status}, 200, 'admin reactivates a user');
ok t_cmp(defined login($other->{email}, $other->{password}), 1,
         'reactivated user logs in');
ok t_cmp(api(GET => 'users/profile/me', token => $other_token)->{status},
         401, 'token from before deactivation stays invalid');
$res = update($other->{id}, $admin, { firstName => 'Admin-set' });
ok t_cmp($res->{status}, 200, 'admin renames another user');
ok t_cmp(stored($other->{id})->{firstName}, 'Admin-set',
         'admin rename is stored');

# Mass assignment: fields that exist but may not be set here.
for my $field (qw(_id password createdAt updatedAt tokenVersion
                  passwordHash currentPassword newPassword)) {
    my $value = $field eq 'tokenVersion' ? 0 : 'x-value-12345678';
    $res = update($user->{id}, $user->{token},
                  { firstName => 'Massive', $field => $value });
    ok t_cmp($res->{status}, 400, "field $field is 400");
    ok t_cmp($res->{json}{message} // '', qr/\Q$field\E/,
             "field $field is named");
}
$res = update($user->{id}, $admin, { _id => '0' x 24 });
ok t_cmp($res->{status}, 400, 'admin sending _id is 400');
ok t_cmp(stored($user->{id})->{firstName}, 'Renamed',
         'rejected fields changed nothing');
ok t_cmp(defined login($user->{email}, $user->{password}), 1,
         'password field did not change the password');

# Input checks.
for my $case ([ 'empty firstName', { firstName => '' }, 'firstName' ],
              [ 'numeric lastName', { lastName => 3 }, 'lastName' ],
              [ 'long firstName', { firstName => 'y' x 101 }, 'firstName' ],
              [ 'invalid email', { email => 'not-an-address' }, 'email' ],
              [ 'null email', { email => JSON::PP::null() }, 'email' ],
              [ 'unknown role', { role => 'root' }, 'role' ],
              [ 'string isActive', { isActive => 'false' }, 'isActive' ]) {
    my ($name, $body, $field) = @$case;
    $res = update($user->{id}, $admin, $body);
    ok t_cmp($res->{status}, 400, "$name is 400");
    ok t_cmp($res->{json}{message} // '', qr/\Q$field\E/,
             "$name names $field");
}

# Unique addresses.
$res = update($user->{id}, $user->{token}, { email => $other->{email} });
ok t_cmp($res->{status}, 400, 'taken address is 400');
ok t_cmp($res->{json}{message}, 'Email already in use',
         'taken address message');
$res = update($user->{id}, $user->{token},
              { email => uc $other->{email} });
ok t_cmp($res->{status}, 400, 'taken address in upper case is 400');
ok t_cmp(stored($user->{id})->{email}, uc $email,
         'rejected address change kept the old one');

# Unknown and malformed ids.
$res = update('0' x 24, $admin, { firstName => 'Nobody' });
ok t_cmp($res->{status}, 404, 'unknown id is 404');
$res = update('xyz', $admin, { firstName => 'Nobody' });
ok t_cmp($res->{status}, 404, 'malformed id is 404');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
