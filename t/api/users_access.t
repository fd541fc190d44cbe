# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Who may call which users endpoint: admin, integrator, user and no token,
# and the shape of what each read returns.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 79;

my $admin = admin_token();
my $integrator = new_user(role => 'integrator');
my $user = new_user(role => 'user');
my $other = new_user(role => 'user');
my $iso_time = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
my @secrets = map { $_->{password} } $integrator, $user, $other;

# Checks that a response body contains no password of this file's users
# and no argon2 hash. Two assertions.
sub no_secrets {
    my ($res, $what) = @_;
    my $leaks = grep { has_text($res->{body}, $_) } @secrets;
    ok t_cmp($leaks, 0, "$what has no password");
    ok t_cmp(has_text($res->{body}, '$argon2'), 0, "$what has no hash");
}

# GET /api/users
my $res = api(GET => 'users', token => $admin);
ok t_cmp($res->{status}, 200, 'admin lists users');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'list success is true');
ok t_cmp(ref $res->{json}{data}, 'ARRAY', 'list data is an array');
ok t_cmp($res->{json}{count}, scalar @{ $res->{json}{data} // [] },
         'list count matches data');
# The users of this file may be on later pages.
my %listed = map { $_->{_id} => $_ } all_users();
ok t_cmp(exists $listed{ $user->{id} }, 1, 'list contains a new user');
ok t_cmp(exists $listed{ $integrator->{id} }, 1,
         'list contains the integrator');
my $entry = $listed{ $user->{id} } // {};
ok t_cmp(join(',', sort keys %$entry),
         '_id,createdAt,email,firstName,isActive,lastName,role,updatedAt',
         'list entry has the spec fields');
ok t_cmp($entry->{createdAt}, $iso_time, 'createdAt format');
ok t_cmp($entry->{updatedAt}, $iso_time, 'updatedAt format');
ok t_cmp($entry->{isActive}, JSON::PP::true, 'isActive is a boolean');
no_secrets($res, 'user list');

$res = api(GET => 'users', token => $integrator->{token});
ok t_cmp($res->{status}, 403, 'integrator cannot list users');
ok t_cmp($res->{json}{message}, 'Access denied', 'list 403 message');
ok t_cmp($res->{json}{success}, JSON::PP::false, 'list 403 success');
$res = api(GET => 'users', token => $user->{token});
ok t_cmp($res->{status}, 403, 'user cannot list users');
$res = api(GET => 'users');
ok t_cmp($res->{status}, 401, 'no token cannot list users');
ok t_cmp($res->{json}{message}, 'Authentication required',
         'list 401 message');

# GET /api/users/profile/me
for my $who ([admin => $admin], [integrator => $integrator->{token}],
             [user => $user->{token}]) {
    my ($role, $token) = @$who;
    $res = api(GET => 'users/profile/me', token => $token);
    ok t_cmp($res->{status}, 200, "$role reads own profile");
    ok t_cmp($res->{json}{data}{role}, $role, "$role profile role");
}
$res = api(GET => 'users/profile/me', token => $user->{token});
ok t_cmp($res->{json}{data}{_id}, $user->{id}, 'profile is the caller');
ok t_cmp($res->{json}{data}{email}, $user->{email}, 'profile email');
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::true, 'profile isActive');
ok t_cmp($res->{json}{data}{createdAt}, $iso_time, 'profile createdAt');
no_secrets($res, 'profile');
ok t_cmp(api(GET => 'users/profile/me')->{status}, 401,
         'no token cannot read a profile');

# GET /api/users/:id
$res = api(GET => "users/$user->{id}", token => $user->{token});
ok t_cmp($res->{status}, 200, 'user reads self by id');
ok t_cmp($res->{json}{data}{_id}, $user->{id}, 'self by id is the caller');
no_secrets($res, 'user by id');
$res = api(GET => "users/$other->{id}", token => $user->{token});
ok t_cmp($res->{status}, 403, 'user cannot read another user');
ok t_cmp($res->{json}{message}, 'Access denied', 'read other 403 message');
ok t_cmp(has_text($res->{body}, $other->{email}), 0,
         'rejected read shows no e-mail');
$res = api(GET => "users/$other->{id}", token => $integrator->{token});
ok t_cmp($res->{status}, 403, 'integrator cannot read another user');
$res = api(GET => "users/$other->{id}", token => $admin);
ok t_cmp($res->{status}, 200, 'admin reads another user');
ok t_cmp($res->{json}{data}{email}, $other->{email}, 'admin sees its email');
ok t_cmp(api(GET => "users/$other->{id}")->{status}, 401,
         'no token cannot read a user');

$res = api(GET => 'users/' . ('0' x 24), token => $admin);
ok t_cmp($res->{status}, 404, 'unknown id is 404');
ok t_cmp($res->{json}{success}, JSON::PP::false, 'unknown id success');
ok t_cmp($res->{type}, qr{^application/json}, 'unknown id is JSON');
for my $bad ('123', 'zzzzzzzzzzzzzzzzzzzzzzzz', uc($other->{id}),
             $other->{id} . '0', '%20') {
    $res = api(GET => "users/$bad", token => $admin);
    ok t_cmp($res->{status}, 404, "malformed id '$bad' is 404");
}

# POST /api/users
my $email = unique_email('created');
my %new = (firstName => 'Ada', lastName => 'Lovelace', email => $email,
           password => 'created-pw-123', role => 'integrator');
$res = api(POST => 'users', token => $integrator->{token}, json => \%new);
ok t_cmp($res->{status}, 403, 'integrator cannot create users');
$res = api(POST => 'users', token => $user->{token}, json => \%new);
ok t_cmp($res->{status}, 403, 'user cannot create users');
$res = api(POST => 'users', json => \%new);
ok t_cmp($res->{status}, 401, 'no token cannot create users');
ok t_cmp(login($email, $new{password}), undef,
         'rejected creations made no user');

$res = api(POST => 'users', token => $admin, json => \%new);
ok t_cmp($res->{status}, 201, 'admin creates a user');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'create success is true');
ok t_cmp($res->{json}{message}, 'User created successfully',
         'create message');
my $created = $res->{json}{data} // {};
ok t_cmp($created->{_id}, qr/^[0-9a-f]{24}$/, 'created _id');
ok t_cmp($created->{email}, $email, 'created email');
ok t_cmp($created->{role}, 'integrator', 'created role');
ok t_cmp($created->{firstName}, 'Ada', 'created firstName');
ok t_cmp($created->{isActive}, JSON::PP::true, 'created isActive');
ok t_cmp($created->{createdAt}, $iso_time, 'created createdAt');
ok t_cmp(has_text($res->{body}, $new{password}), 0,
         'create body has no password');
ok t_cmp(has_text($res->{body}, '$argon2'), 0, 'create body has no hash');
ok t_cmp(defined login($email, $new{password}), 1,
         'created user can log in');

# DELETE /api/users/:id
my $victim = new_user(role => 'user');
$res = api(DELETE => "users/$victim->{id}", token => $victim->{token});
ok t_cmp($res->{status}, 403, 'user cannot delete self');
$res = api(DELETE => "users/$victim->{id}", token => $user->{token});
ok t_cmp($res->{status}, 403, 'user cannot delete another');
$res = api(DELETE => "users/$victim->{id}", token => $integrator->{token});
ok t_cmp($res->{status}, 403, 'integrator cannot delete');
$res = api(DELETE => "users/$victim->{id}");
ok t_cmp($res->{status}, 401, 'no token cannot delete');
ok t_cmp(api(GET => "users/$victim->{id}", token => $admin)->{status}, 200,
         'rejected deletes kept the user');

$res = api(DELETE => "users/$victim->{id}", token => $admin);
ok t_cmp($res->{status}, 200, 'admin deletes a user');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'delete success is true');
ok t_cmp($res->{json}{message}, 'User deleted successfully',
         'delete message');
ok t_cmp(api(GET => "users/$victim->{id}", token => $admin)->{status}, 404,
         'deleted user is gone');
ok t_cmp(login($victim->{email}, $victim->{password}), undef,
         'deleted user cannot log in');
$res = api(DELETE => "users/$victim->{id}", token => $admin);
ok t_cmp($res->{status}, 404, 'deleting again is 404');
$res = api(DELETE => 'users/not-an-id', token => $admin);
ok t_cmp($res->{status}, 404, 'deleting a malformed id is 404');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
