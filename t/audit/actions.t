# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Every change and every login attempt leaves one audit row with the time,
# the actor (a user or an API key), the action, the target, the client
# address, the request id and the outcome: users created, updated,
# password changes and deletions; integrations created, updated (which
# fields, and credentials only as "changed"), activated, deactivated and
# deleted; API keys created and revoked; logins and key exchanges that
# fail or succeed. No row contains a password, key, token or credential.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration qw(integration_body sql);
use ItsmLists;
use Time::HiRes qw(time);
use Time::Local qw(timegm);

plan tests => 110;

my $admin = admin_token();
my $admin_id = token_claims($admin)->{sub};
my $started = time;
my @secrets = (admin_password(), $admin);
my $ID = qr/^[0-9a-f]{24}$/;

# Returns the audit rows for %filter as (count, newest row).
sub rows_for {
    my (%filter) = @_;
    my @rows = audit_rows(undef, %filter);
    return (scalar @rows, $rows[0] // {});
}

sub seconds_of {
    my ($at) = @_;
    my ($y, $m, $d, $h, $min, $s, $ms) =
        ($at // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$/
        or return 0;
    return timegm($s, $min, $h, $d, $m - 1, $y) + $ms / 1000;
}

sub password_of {
    my ($tag) = @_;
    my $password = "$tag-" . unpack('H*', pack('N2', rand 2**32, rand 2**32));
    push @secrets, $password;
    return $password;
}

# --- user.create: every field of a row --------------------------------------

my $email = unique_email('audited');
my $password = password_of('created');
my $res = api(POST => 'users', token => $admin,
              json => { firstName => 'Audit', lastName => 'Ed',
                        email => $email, password => $password,
                        role => 'integrator' });
ok t_cmp($res->{status}, 201, 'user created');
my $user_id = $res->{json}{data}{_id};

my ($n, $row) = rows_for(action => 'user.create', target => $user_id);
ok t_cmp($n, 1, 'user.create has one row');
ok t_cmp(join(',', sort keys %$row),
         '_id,action,actorId,actorType,at,clientIp,details,outcome,'
         . 'requestId,targetId,targetType', 'row has the documented fields');
ok t_cmp($row->{_id}, qr/^\d+$/, 'row _id is a number in a string');
ok t_cmp($row->{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
         'row time is an ISO time');
my $at = seconds_of($row->{at});
ok t_cmp($at >= $started - 1 && $at <= time + 1, 1, 'row time is now');
ok t_cmp($row->{actorType}, 'user', 'actor type user');
ok t_cmp($row->{actorId}, $admin_id, 'actor is the admin');
ok t_cmp($row->{action}, 'user.create', 'action');
ok t_cmp($row->{targetType}, 'user', 'target type user');
ok t_cmp($row->{targetId}, $user_id, 'target is the new user');
ok t_cmp($row->{clientIp}, '127.0.0.1', 'client address');
if (Apache::Test::have_module('unique_id')) {
    ok t_cmp($row->{requestId}, qr/^\S{20,}$/,
             'request id is UNIQUE_ID of mod_unique_id');
}
else {
    ok t_cmp($row->{requestId}, undef,
             'request id is null without mod_unique_id');
}
ok t_cmp($row->{outcome}, 'success', 'outcome success');
ok t_cmp($row->{details}{email}, $email, 'details name the e-mail address');
ok t_cmp($row->{details}{role}, 'integrator', 'details name the role');

# --- user.update, user.password_change, user.delete -------------------------

$res = api(PUT => "users/$user_id", token => $admin,
           json => { firstName => 'Audited', lastName => 'Again' });
ok t_cmp($res->{status}, 200, 'user updated');
($n, $row) = rows_for(action => 'user.update', target => $user_id);
ok t_cmp($n, 1, 'user.update has one row');
ok t_cmp(join(',', sort @{ $row->{details}{fields} // [] }),
         'firstName,lastName', 'user.update names the fields');
ok t_cmp($row->{actorId}, $admin_id, 'user.update actor');

my $user_token = login($email, $password);
$res = api(PUT => "users/$user_id", token => $user_token,
           json => { lastName => 'Self' });
ok t_cmp($res->{status}, 200, 'user updated themselves');
($n, $row) = rows_for(action => 'user.update', target => $user_id);
ok t_cmp($n, 2, 'second user.update row');
ok t_cmp($row->{actorId}, $user_id, 'self update: the user is the actor');
ok t_cmp(join(',', @{ $row->{details}{fields} // [] }), 'lastName',
         'self update names lastName');

my $new_password = password_of('admin-set');
$res = api(PUT => "users/$user_id/password", token => $admin,
           json => { newPassword => $new_password });
ok t_cmp($res->{status}, 200, 'password set by the admin');
($n, $row) = rows_for(action => 'user.password_change', target => $user_id);
ok t_cmp($n, 1, 'user.password_change has one row');
ok t_cmp($row->{details}{self}, JSON::PP::false, 'admin change: self false');
ok t_cmp($row->{actorId}, $admin_id, 'admin change: admin is the actor');

$user_token = login($email, $new_password);
my $self_password = password_of('self-set');
$res = api(PUT => "users/$user_id/password", token => $user_token,
           json => { currentPassword => $new_password,
                     newPassword => $self_password });
ok t_cmp($res->{status}, 200, 'password changed by the user');
($n, $row) = rows_for(action => 'user.password_change', target => $user_id);
ok t_cmp($n, 2, 'second user.password_change row');
ok t_cmp($row->{details}{self}, JSON::PP::true, 'own change: self true');
ok t_cmp($row->{actorId}, $user_id, 'own change: the user is the actor');

# --- auth.login: successes and failures -------------------------------------

$res = api(POST => 'auth/login',
           json => { email => $email, password => $self_password });
ok t_cmp($res->{status}, 200, 'login succeeds');
my @logins = audit_rows(undef, action => 'auth.login', target => $user_id);
my ($success) = grep { $_->{outcome} eq 'success' } @logins;
ok t_cmp(defined $success, 1, 'successful login has a row');
ok t_cmp($success->{actorType}, 'user', 'login: actor type user');
ok t_cmp($success->{actorId}, $user_id, 'login: the user is the actor');
ok t_cmp($success->{targetType}, 'user', 'login: target type user');
ok t_cmp($success->{clientIp}, '127.0.0.1', 'login: client address');

my $wrong = password_of('wrong');
$res = api(POST => 'auth/login', json => { email => $email,
                                           password => $wrong });
ok t_cmp($res->{status}, 401, 'wrong password fails');
($n, $row) = rows_for(action => 'auth.login', target => $user_id);
ok t_cmp($row->{outcome}, 'failure', 'wrong password: outcome failure');
ok t_cmp($row->{details}{reason}, 'wrong password', 'wrong password reason');
ok t_cmp($row->{actorType}, 'anonymous', 'failed login has no actor');
ok t_cmp($row->{actorId}, undef, 'failed login actor id is null');

my $nobody = unique_email('nobody');
$res = api(POST => 'auth/login', json => { email => $nobody,
                                           password => $wrong });
ok t_cmp($res->{status}, 401, 'unknown address fails');
my ($unknown_row) = grep { ($_->{details}{email} // '') eq $nobody }
    audit_rows(undef, action => 'auth.login', from => iso_time($started));
ok t_cmp($unknown_row->{outcome}, 'failure', 'unknown address: failure');
ok t_cmp($unknown_row->{details}{reason}, 'unknown e-mail address',
         'unknown address reason');
ok t_cmp($unknown_row->{targetId}, undef, 'unknown address has no target');

# --- user.delete ------------------------------------------------------------

my $doomed = new_user(role => 'user');
$res = api(DELETE => "users/$doomed->{id}", token => $admin);
ok t_cmp($res->{status}, 200, 'user deleted');
($n, $row) = rows_for(action => 'user.delete', target => $doomed->{id});
ok t_cmp($n, 1, 'user.delete has one row');
ok t_cmp($row->{details}{email}, $doomed->{email}, 'user.delete names the '
         . 'e-mail address');
ok t_cmp($row->{targetType}, 'user', 'user.delete target type');

# A deactivated account's login is a failure with its reason.
$res = api(PUT => "users/$user_id", token => $admin,
           json => { isActive => JSON::PP::false });
$res = api(POST => 'auth/login',
           json => { email => $email, password => $self_password });
ok t_cmp($res->{status}, 403, 'deactivated login is 403');
($n, $row) = rows_for(action => 'auth.login', target => $user_id);
ok t_cmp($row->{outcome}, 'failure', 'deactivated login: failure');
ok t_cmp($row->{details}{reason}, 'deactivated', 'deactivated login reason');
api(PUT => "users/$user_id", token => $admin,
    json => { isActive => JSON::PP::true });

# --- integrations -----------------------------------------------------------

my $credential = password_of('credential');
my $token_value = password_of('api-token');
push @secrets, ItsmIntegration::http_basic('svc', $credential);
my $basic = { type => 'basic',
              credentials => { username => 'svc', password => $credential } };
$res = api(POST => 'integration', token => $admin,
           json => integration_body(auth => $basic));
ok t_cmp($res->{status}, 201, 'integration created');
my $it = $res->{json}{data};
($n, $row) = rows_for(action => 'integration.create', target => $it->{_id});
ok t_cmp($n, 1, 'integration.create has one row');
ok t_cmp($row->{targetType}, 'integration', 'integration target type');
ok t_cmp($row->{details}{name}, $it->{name}, 'integration.create names it');
ok t_cmp($row->{details}{type}, 'jira', 'integration.create names the type');
ok t_cmp($row->{details}{credentials}, JSON::PP::true,
         'integration.create says credentials were given');

$res = api(PUT => "integration/$it->{_id}", token => $admin,
           json => { description => 'audited',
                     config => { auth => { type => 'token',
                         credentials => { apiToken => $token_value } } } });
ok t_cmp($res->{status}, 200, 'integration updated with credentials');
($n, $row) = rows_for(action => 'integration.update', target => $it->{_id});
ok t_cmp($n, 1, 'integration.update has one row');
ok t_cmp(join(',', sort @{ $row->{details}{fields} // [] }),
         'config.auth.type,description', 'integration.update names fields');
ok t_cmp($row->{details}{credentials}, 'changed',
         'credentials are recorded as changed');

$res = api(PUT => "integration/$it->{_id}", token => $admin,
           json => { description => 'no credentials change' });
($n, $row) = rows_for(action => 'integration.update', target => $it->{_id});
ok t_cmp($row->{details}{credentials}, 'unchanged',
         'an update without credentials says unchanged');

$res = api(PUT => "integration/$it->{_id}", token => $admin,
           json => { config => { auth => { type => 'none',
                                            credentials => undef } } });
ok t_cmp($res->{status}, 200, 'credentials removed');
($n, $row) = rows_for(action => 'integration.update', target => $it->{_id});
ok t_cmp($row->{details}{credentials}, 'removed',
         'removed credentials are recorded as removed');
ok t_cmp($n, 3, 'three updates, three integration.update rows');

# A change of isActive is recorded as that action, next to the update.
$res = api(PUT => "integration/$it->{_id}", token => $admin,
           json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'integration deactivated');
($n, $row) = rows_for(action => 'integration.deactivate',
                      target => $it->{_id});
ok t_cmp($n, 1, 'integration.deactivate has one row');
ok t_cmp($row->{actorId}, $admin_id, 'integration.deactivate actor');
($n, $row) = rows_for(action => 'integration.update', target => $it->{_id});
ok t_cmp(join(',', @{ $row->{details}{fields} // [] }), 'isActive',
         'the update row of a deactivation names isActive');
$res = api(PUT => "integration/$it->{_id}", token => $admin,
           json => { isActive => JSON::PP::true });
($n, $row) = rows_for(action => 'integration.activate', target => $it->{_id});
ok t_cmp($n, 1, 'integration.activate has one row');
$res = api(PUT => "integration/$it->{_id}", token => $admin,
           json => { isActive => JSON::PP::true });
($n) = rows_for(action => 'integration.activate', target => $it->{_id});
ok t_cmp($n, 1, 'setting isActive to its value is no activation');

$res = api(DELETE => "integration/$it->{_id}", token => $admin);
ok t_cmp($res->{status}, 200, 'integration deleted');
($n, $row) = rows_for(action => 'integration.delete', target => $it->{_id});
ok t_cmp($n, 1, 'integration.delete has one row');
ok t_cmp($row->{details}{name}, $it->{name}, 'integration.delete names it');

my @it_rows = audit_rows(undef, target => $it->{_id});
ok t_cmp(join(',', map { $_->{action} } reverse @it_rows),
         'integration.create,integration.update,integration.update,'
         . 'integration.update,integration.update,integration.deactivate,'
         . 'integration.update,integration.activate,integration.update,'
         . 'integration.delete', 'the integration history, in order');

# --- API keys ---------------------------------------------------------------

$res = create_key(undef, $admin, name => 'audited key', scope => 'write');
my $key = $res->{json}{data}{key};
my $key_id = $res->{json}{data}{_id};
push @secrets, $key, (key_parts($key))[1];
($n, $row) = rows_for(action => 'api_key.create', target => $key_id);
ok t_cmp($n, 1, 'api_key.create has one row');
ok t_cmp($row->{targetType}, 'api_key', 'api_key.create target type');
ok t_cmp($row->{details}{name}, 'audited key', 'api_key.create names it');
ok t_cmp($row->{details}{userId}, $admin_id, 'api_key.create names the user');
ok t_cmp($row->{details}{scope}, 'write', 'api_key.create names the scope');

# Changes made with a key record the key as the actor and its user.
$res = api(POST => 'users', token => $key,
           json => { firstName => 'By', lastName => 'Key',
                     email => unique_email('bykey'),
                     password => password_of('by-key') });
ok t_cmp($res->{status}, 201, 'user created with a key');
($n, $row) = rows_for(action => 'user.create',
                      target => $res->{json}{data}{_id});
ok t_cmp($row->{actorType}, 'api_key', 'key change: actor type api_key');
ok t_cmp($row->{actorId}, $key_id, 'key change: the key is the actor');
ok t_cmp($row->{details}{userId}, $admin_id, 'key change: details.userId');

# Key exchanges.
$res = api(POST => 'auth/api-key', json => { apiKey => $key });
ok t_cmp($res->{status}, 200, 'key exchanged');
my $key_token = $res->{json}{token};
push @secrets, $key_token;
my @exchanges = audit_rows(undef, action => 'auth.api_key',
                           target => $key_id);
ok t_cmp(scalar @exchanges, 1, 'exchange has one row');
ok t_cmp($exchanges[0]{outcome}, 'success', 'exchange outcome');
ok t_cmp($exchanges[0]{actorType}, 'api_key', 'exchange actor type');
ok t_cmp($exchanges[0]{actorId}, $key_id, 'exchange actor is the key');
ok t_cmp($exchanges[0]{details}{userId}, $admin_id,
         'exchange names the key user');

$res = api(PUT => "users/$user_id", token => $key_token,
           json => { lastName => 'ByToken' });
($n, $row) = rows_for(action => 'user.update', target => $user_id);
ok t_cmp($row->{actorType}, 'api_key',
         'change with an exchanged token: actor type api_key');
ok t_cmp($row->{actorId}, $key_id,
         'change with an exchanged token: the key is the actor');

my $bad_key = substr($key, 0, -1) . (substr($key, -1) eq 'Q' ? 'R' : 'Q');
push @secrets, $bad_key;
$res = api(POST => 'auth/api-key', json => { apiKey => $bad_key });
ok t_cmp($res->{status}, 401, 'wrong key secret fails');
@exchanges = audit_rows(undef, action => 'auth.api_key', target => $key_id);
ok t_cmp($exchanges[0]{outcome}, 'failure', 'failed exchange is recorded');
ok t_cmp($exchanges[0]{actorType}, 'anonymous', 'failed exchange actor');
ok t_cmp($exchanges[0]{details}{reason}, qr/invalid/,
         'failed exchange has a reason');

$res = api(DELETE => "auth/api-keys/$key_id", token => $admin);
ok t_cmp($res->{status}, 200, 'key revoked');
($n, $row) = rows_for(action => 'api_key.revoke', target => $key_id);
ok t_cmp($n, 1, 'api_key.revoke has one row');
ok t_cmp($row->{actorId}, $admin_id, 'api_key.revoke actor');
ok t_cmp($row->{details}{name}, 'audited key', 'api_key.revoke names it');
api(DELETE => "auth/api-keys/$key_id", token => $admin);
($n) = rows_for(action => 'api_key.revoke', target => $key_id);
ok t_cmp($n, 1, 'revoking again writes no row');

# --- no secret in any row ------------------------------------------------

my @all = audit_rows(undef, from => iso_time($started - 1));
my $text = join "\n", map { ItsmTest::json_encode($_) } @all;
ok t_cmp(scalar(@all) >= 30, 1, 'rows of this test are listed');
ok t_cmp(scalar(grep { has_text($text, $_) } @secrets), 0,
         'no password, key, token or credential in a listed row');
ok t_cmp(has_text($text, '$argon2'), 0, 'no password hash in a listed row');
my $stored = join "\n", sql('SELECT * FROM audit_log');
ok t_cmp(scalar(grep { has_text($stored, $_) } @secrets), 0,
         'no password, key, token or credential in the audit_log table');
ok t_cmp(scalar(@secrets) >= 12, 1, 'the secrets of this test were checked');

ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
