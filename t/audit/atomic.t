# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Audit rows are written in the transaction of the change they describe.
# On a server of its own, where nothing else writes to the log: each
# successful change adds exactly its rows, and a refused or failed change
# adds none. Then a trigger makes SQLite reject the audit row of one
# action at a time: the change itself must be rolled back with it.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmLists;

plan tests => 76;

# The schema exists once a server has started; the trigger is added while
# no server runs, so that no prepared statement sees the schema change.
my $first = ItsmServer->start(directives => [ 'ITSMHealthCheckInterval 0' ]);
$first->stop;
$first->sql('CREATE TABLE test_refused_audit (action TEXT PRIMARY KEY)');
$first->sql(<<'SQL');
CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM test_refused_audit WHERE action = NEW.action)
BEGIN SELECT RAISE(ABORT, 'audit row refused by the test'); END
SQL
my $server = ItsmServer->start(share => $first,
                               directives => [ 'ITSMHealthCheckInterval 0' ]);
my $admin = $server->login_admin;
my $admin_id;

sub req { $server->api(@_) }

# The newest audit rows, newest first, and the total.
sub audit_state {
    my $res = req(GET => 'audit?limit=20', token => $admin);
    die "reading the audit log failed: HTTP $res->{status}\n"
        unless $res->{status} == 200;
    return ($res->{json}{total}, $res->{json}{data});
}

# Runs $code, checks its status, and checks that the audit log grew by
# exactly the rows of @actions (oldest first).
sub change_adds {
    my ($label, $status, $code, @actions) = @_;
    my ($before) = audit_state();
    my $res = $code->();
    my ($after, $rows) = audit_state();
    my @new = reverse @$rows[0 .. $after - $before - 1];
    ok t_cmp($res->{status}, $status, "$label is $status");
    ok t_cmp(join(',', map { $_->{action} } @new), join(',', @actions),
             @actions ? "$label adds " . join(' and ', @actions)
                      : "$label adds no audit row");
    return $res;
}

sub user_body {
    my ($tag) = @_;
    return { firstName => 'Atomic', lastName => 'Test',
             email => "$tag-$$\@example.com",
             password => "$tag-password-1" };
}

sub integration_body {
    my ($name) = @_;
    # Port 9 (discard) on the loopback interface; the runner is off, so it
    # is never contacted.
    return { name => $name, type => 'custom',
             config => { baseUrl => 'http://127.0.0.1:9',
                         auth => { type => 'none' } } };
}

# --- each change adds its rows, each failure none ---------------------------

my $res = req(GET => 'users/profile/me', token => $admin);
$admin_id = $res->{json}{data}{_id};

$res = change_adds('user create', 201,
                   sub { req(POST => 'users', token => $admin,
                             json => user_body('first')) },
                   'user.create');
my $user_id = $res->{json}{data}{_id};
my $user_token = $server->login("first-$$\@example.com", 'first-password-1');

change_adds('duplicate user create', 400,
            sub { my $body = user_body('first');
                  $body->{email} = uc $body->{email};
                  req(POST => 'users', token => $admin, json => $body) });
change_adds('user create with a short password', 400,
            sub { my $body = user_body('short');
                  $body->{password} = 'short';
                  req(POST => 'users', token => $admin, json => $body) });
change_adds('user update', 200,
            sub { req(PUT => "users/$user_id", token => $admin,
                      json => { lastName => 'Changed' }) },
            'user.update');
change_adds('user update to a used e-mail address', 400,
            sub { req(PUT => "users/$user_id", token => $admin,
                      json => { email => 'ADMIN@example.com' }) });
change_adds('update of an unknown user', 404,
            sub { req(PUT => 'users/0123456789abcdef01234567',
                      token => $admin, json => { lastName => 'X' }) });
change_adds('demoting the last admin', 400,
            sub { req(PUT => "users/$admin_id", token => $admin,
                      json => { role => 'user' }) });
change_adds('deleting the last admin', 400,
            sub { req(DELETE => "users/$admin_id", token => $admin) });
change_adds('own password change with a wrong current one', 400,
            sub { req(PUT => "users/$user_id/password", token => $user_token,
                      json => { currentPassword => 'not-the-password',
                                newPassword => 'another-password-1' }) });
change_adds('password change', 200,
            sub { req(PUT => "users/$user_id/password", token => $admin,
                      json => { newPassword => 'second-password-1' }) },
            'user.password_change');

$res = change_adds('integration create', 201,
                   sub { req(POST => 'integration', token => $admin,
                             json => integration_body('Atomic one')) },
                   'integration.create');
my $it_id = $res->{json}{data}{_id};
$res = change_adds('second integration create', 201,
                   sub { req(POST => 'integration', token => $admin,
                             json => integration_body('Atomic two')) },
                   'integration.create');
my $it2_id = $res->{json}{data}{_id};
change_adds('duplicate integration name', 400,
            sub { req(POST => 'integration', token => $admin,
                      json => integration_body('ATOMIC ONE')) });
change_adds('integration update', 200,
            sub { req(PUT => "integration/$it_id", token => $admin,
                      json => { description => 'changed' }) },
            'integration.update');
change_adds('rename to a used integration name', 400,
            sub { req(PUT => "integration/$it2_id", token => $admin,
                      json => { name => 'atomic one' }) });
change_adds('integration deactivation', 200,
            sub { req(PUT => "integration/$it_id", token => $admin,
                      json => { isActive => JSON::PP::false }) },
            'integration.update', 'integration.deactivate');
change_adds('integration activation', 200,
            sub { req(PUT => "integration/$it_id", token => $admin,
                      json => { isActive => JSON::PP::true }) },
            'integration.update', 'integration.activate');
change_adds('integration delete', 200,
            sub { req(DELETE => "integration/$it2_id", token => $admin) },
            'integration.delete');
change_adds('deleting it again', 404,
            sub { req(DELETE => "integration/$it2_id", token => $admin) });

$res = change_adds('key create', 201,
                   sub { create_key($server, $admin, name => 'atomic') },
                   'api_key.create');
my $key_id = $res->{json}{data}{_id};
change_adds('key create without a name', 400,
            sub { req(POST => 'auth/api-keys', token => $admin,
                      json => {}) });
change_adds('key revoke', 200,
            sub { req(DELETE => "auth/api-keys/$key_id", token => $admin) },
            'api_key.revoke');
change_adds('revoking it again', 200,
            sub { req(DELETE => "auth/api-keys/$key_id", token => $admin) });

change_adds('user delete', 200,
            sub { req(DELETE => "users/$user_id", token => $admin) },
            'user.delete');
change_adds('deleting the user again', 404,
            sub { req(DELETE => "users/$user_id", token => $admin) });

# --- a refused audit row rolls the change back -----------------------------

sub refuse {
    my ($action) = @_;
    $server->sql('DELETE FROM test_refused_audit');
    $server->sql("INSERT INTO test_refused_audit VALUES ('$action')")
        if defined $action;
}

$res = req(POST => 'users', token => $admin, json => user_body('victim'));
my $victim = $res->{json}{data}{_id};
$res = req(POST => 'integration', token => $admin,
           json => integration_body('Atomic victim'));
my $it_victim = $res->{json}{data}{_id};
$res = create_key($server, $admin, name => 'victim key');
my ($victim_key, $victim_key_id) = @{ $res->{json}{data} }{qw(key _id)};
my (undef, $newest) = audit_state();
my $last_id = $newest->[0]{_id};

refuse('user.create');
$res = req(POST => 'users', token => $admin, json => user_body('refused'));
ok t_cmp($res->{status}, 500, 'user create without its audit row is 500');
ok t_cmp($res->{json}{message}, 'Error creating user', 'user create message');
$res = req(GET => 'users?limit=1000', token => $admin);
ok t_cmp(scalar(grep { $_->{email} eq "refused-$$\@example.com" }
                @{ $res->{json}{data} }), 0, 'the user was not created');

refuse('user.update');
$res = req(PUT => "users/$victim", token => $admin,
           json => { lastName => 'Refused' });
ok t_cmp($res->{status}, 500, 'user update without its audit row is 500');
$res = req(GET => "users/$victim", token => $admin);
ok t_cmp($res->{json}{data}{lastName}, 'Test', 'the user was not updated');

refuse('user.password_change');
$res = req(PUT => "users/$victim/password", token => $admin,
           json => { newPassword => 'refused-password-1' });
ok t_cmp($res->{status}, 500, 'password change without its audit row is 500');
ok t_cmp(defined $server->login("victim-$$\@example.com",
                                'victim-password-1'), 1,
         'the old password still works');
ok t_cmp(defined $server->login("victim-$$\@example.com",
                                'refused-password-1'), '',
         'the new password does not');

refuse('user.delete');
$res = req(DELETE => "users/$victim", token => $admin);
ok t_cmp($res->{status}, 500, 'user delete without its audit row is 500');
$res = req(GET => "users/$victim", token => $admin);
ok t_cmp($res->{status}, 200, 'the user was not deleted');

refuse('integration.create');
$res = req(POST => 'integration', token => $admin,
           json => integration_body('Atomic refused'));
ok t_cmp($res->{status}, 500,
         'integration create without its audit row is 500');
$res = req(GET => 'integration?name=atomic%20refused', token => $admin);
ok t_cmp($res->{json}{total}, 0, 'the integration was not created');

refuse('integration.update');
$res = req(PUT => "integration/$it_victim", token => $admin,
           json => { description => 'refused' });
ok t_cmp($res->{status}, 500,
         'integration update without its audit row is 500');
$res = req(GET => "integration/$it_victim", token => $admin);
ok t_cmp($res->{json}{data}{description}, '',
         'the integration was not updated');

refuse('integration.deactivate');
$res = req(PUT => "integration/$it_victim", token => $admin,
           json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 500, 'deactivation without its audit row is 500');
$res = req(GET => "integration/$it_victim", token => $admin);
ok t_cmp($res->{json}{data}{isActive}, JSON::PP::true,
         'the integration is still active');

refuse('integration.delete');
$res = req(DELETE => "integration/$it_victim", token => $admin);
ok t_cmp($res->{status}, 500,
         'integration delete without its audit row is 500');
$res = req(GET => "integration/$it_victim", token => $admin);
ok t_cmp($res->{status}, 200, 'the integration was not deleted');

refuse('api_key.create');
my ($keys_before) = req(GET => 'auth/api-keys', token => $admin)
    ->{json}{total};
$res = create_key($server, $admin, name => 'refused key');
ok t_cmp($res->{status}, 500, 'key create without its audit row is 500');
ok t_cmp(defined $res->{json}{data}, '', 'no key is returned');
ok t_cmp(req(GET => 'auth/api-keys', token => $admin)->{json}{total},
         $keys_before, 'the key was not created');

refuse('api_key.revoke');
$res = req(DELETE => "auth/api-keys/$victim_key_id", token => $admin);
ok t_cmp($res->{status}, 500, 'key revoke without its audit row is 500');
$res = req(GET => 'users/profile/me', token => $victim_key);
ok t_cmp($res->{status}, 200, 'the key still works');

my @added = grep { $_->{_id} > $last_id && $_->{action} !~ /^auth\./ }
    audit_rows($server);
ok t_cmp(scalar @added, 0, 'refused changes added no audit row');

# Login attempts are not changes: a lost audit row does not stop them.
refuse('auth.login');
ok t_cmp(defined $server->login("victim-$$\@example.com",
                                'victim-password-1'), 1,
         'login works when its audit row is refused');
refuse(undef);

ok t_cmp(scalar(() = $server->error_log =~ /ITSM00060/g) >= 10, 1,
         'each refused audit row was logged (ITSM00060)');
