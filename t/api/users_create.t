# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# POST /api/users input checks: required fields, types, e-mail syntax,
# password length, roles, unknown fields and unique e-mail addresses.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use utf8;

plan tests => 95;

my $admin = admin_token();

sub valid_body {
    my (%change) = @_;
    my %body = (firstName => 'Grace', lastName => 'Hopper',
                email => unique_email('create'), password => 'valid-pw-123',
                role => 'user');
    while (my ($k, $v) = each %change) {
        if (defined $v) {
            $body{$k} = $v;
        }
        else {
            delete $body{$k};
        }
    }
    return \%body;
}

sub create {
    my ($body) = @_;
    return api(POST => 'users', token => $admin, json => $body);
}

# Each case: the change to a valid body, the field the message must name.
my @rejected = (
    [ 'missing firstName',   { firstName => undef },      'firstName' ],
    [ 'missing lastName',    { lastName => undef },       'lastName' ],
    [ 'missing email',       { email => undef },          'email' ],
    [ 'missing password',    { password => undef },       'password' ],
    [ 'numeric firstName',   { firstName => 7 },          'firstName' ],
    [ 'null lastName',       { lastName => JSON::PP::null() }, 'lastName' ],
    [ 'empty firstName',     { firstName => '' },         'firstName' ],
    [ 'long lastName',       { lastName => 'x' x 101 },   'lastName' ],
    [ 'object email',        { email => { a => 1 } },     'email' ],
    [ 'numeric password',    { password => 12345678 },    'password' ],
    [ 'short password',      { password => 'seven77' },   'password' ],
    [ 'long password',       { password => 'p' x 129 },   'password' ],
    [ 'seven-letter multibyte password', { password => 'ééééééé' },
      'password' ],
    [ 'unknown role',        { role => 'superuser' },     'role' ],
    [ 'capitalised role',    { role => 'Admin' },         'role' ],
    [ 'numeric role',        { role => 1 },               'role' ],
    [ 'string isActive',     { isActive => 'true' },      'isActive' ],
    [ 'field _id',           { _id => '0' x 24 },         '_id' ],
    [ 'field createdAt',     { createdAt => '2020-01-01T00:00:00.000Z' },
      'createdAt' ],
    [ 'field updatedAt',     { updatedAt => '2020-01-01T00:00:00.000Z' },
      'updatedAt' ],
    [ 'field tokenVersion',  { tokenVersion => 5 },       'tokenVersion' ],
    [ 'field passwordHash',  { passwordHash => '$argon2id$v=19$x' },
      'passwordHash' ],
    [ 'field password_hash', { password_hash => 'x' },    'password_hash' ],
);
for my $case (@rejected) {
    my ($name, $change, $field) = @$case;
    my $body = valid_body(%$change);
    my $res = create($body);
    ok t_cmp($res->{status}, 400, "$name is 400");
    ok t_cmp($res->{json}{message} // '', qr/\Q$field\E/,
             "$name message names $field");
}

# A rejected body creates nothing: the same address is still free.
my $body = valid_body(_id => '0' x 24);
ok t_cmp(create($body)->{status}, 400, 'body with _id is 400');
delete $body->{_id};
ok t_cmp(create($body)->{status}, 201, 'its address is still free');

# E-mail syntax.
for my $email ('no-at-sign.example.com', 'a@b', '@example.com',
               'a@@example.com', 'a b@example.com', 'a@example..com',
               'a@.example.com', 'a@example.', "a\n\@example.com",
               'a<b>@example.com', ('x' x 250) . '@example.com') {
    my $res = create(valid_body(email => $email));
    (my $shown = $email) =~ s/\n/\\n/g;
    $shown = substr($shown, 0, 20) . '...' if length $shown > 30;
    ok t_cmp($res->{status}, 400, "email '$shown' is 400");
    ok t_cmp($res->{json}{message} // '', qr/email/,
             "email '$shown' message names email");
}

# Password length bounds, in characters.
my $res = create(valid_body(password => 'eight888'));
ok t_cmp($res->{status}, 201, '8-character password is accepted');
$body = valid_body(password => 'p' x 128);
$res = create($body);
ok t_cmp($res->{status}, 201, '128-character password is accepted');
ok t_cmp(defined login($body->{email}, $body->{password}), 1,
         '128-character password logs in');
$body = valid_body(password => 'é' x 128);
$res = create($body);
ok t_cmp($res->{status}, 201, '128 two-byte characters are accepted');
ok t_cmp(defined login($body->{email}, $body->{password}), 1,
         'two-byte password logs in');

# Defaults and the stored values.
$body = valid_body(role => undef, firstName => 'Zoë', lastName => 'Ñandú');
$res = create($body);
ok t_cmp($res->{status}, 201, 'create without role is 201');
ok t_cmp($res->{json}{data}{role}, 'user', 'role defaults to user');
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::true,
         'isActive defaults to true');
ok t_cmp($res->{json}{data}{firstName}, 'Zoë', 'non-ASCII firstName kept');
ok t_cmp($res->{json}{data}{lastName}, 'Ñandú', 'non-ASCII lastName kept');
my $id = $res->{json}{data}{_id};
$res = api(GET => "users/$id", token => $admin);
ok t_cmp($res->{json}{data}{firstName}, 'Zoë', 'non-ASCII firstName stored');

$body = valid_body(role => 'admin');
$res = create($body);
ok t_cmp($res->{status}, 201, 'admin creates an admin');
my $new_admin = login($body->{email}, $body->{password});
ok t_cmp(api(GET => 'users', token => $new_admin)->{status}, 200,
         'created admin lists users');

$body = valid_body(isActive => JSON::PP::false);
$res = create($body);
ok t_cmp($res->{status}, 201, 'inactive user is created');
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::false,
         'created user is inactive');
ok t_cmp(login($body->{email}, $body->{password}), undef,
         'inactive user cannot log in');

# Unique addresses, in any case.
my $email = unique_email('Dup');
$res = create(valid_body(email => $email));
ok t_cmp($res->{status}, 201, 'first address is 201');
ok t_cmp($res->{json}{data}{email}, $email, 'address is kept as given');
$res = create(valid_body(email => $email));
ok t_cmp($res->{status}, 400, 'same address is 400');
ok t_cmp($res->{json}{message}, 'Email already in use',
         'same address message');
$res = create(valid_body(email => uc $email));
ok t_cmp($res->{status}, 400, 'same address in upper case is 400');
ok t_cmp($res->{json}{message}, 'Email already in use',
         'upper-case address message');
$res = create(valid_body(email => lc $email));
ok t_cmp($res->{status}, 400, 'same address in lower case is 400');
$res = create(valid_body(email => 'admin@EXAMPLE.com'));
ok t_cmp($res->{status}, 400, 'bootstrap admin address is taken');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
