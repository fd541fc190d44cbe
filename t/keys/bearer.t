# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# An API key sent as "Authorization: Bearer <key>" works wherever a JWT
# does, with no more rights than its user: a read key only reads, a key
# follows its user's role, and it stops working when its user is
# deactivated or deleted, when it expires, and, for the JWT exchanged for
# it, when it is revoked.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration qw(create_integration integration_body);
use ItsmLists;
use Time::HiRes qw(time sleep);

plan tests => 78;

my $admin = admin_token();
my $admin_id = token_claims($admin)->{sub};

sub key_for {
    my (%body) = @_;
    my $res = create_key(undef, $admin, %body);
    die "creating a key failed: HTTP $res->{status}\n"
        unless $res->{status} == 201;
    return ($res->{json}{data}{key}, $res->{json}{data}{_id});
}

sub exchange {
    my ($key) = @_;
    my $res = api(POST => 'auth/api-key', json => { apiKey => $key });
    return $res->{status} == 200 ? $res->{json}{token} : undef;
}

sub user_body {
    return { firstName => 'Key', lastName => 'Made',
             email => unique_email('keymade'),
             password => 'made-by-a-key-1' };
}

# --- a write key of an admin --------------------------------------------

my ($write_key) = key_for(name => 'admin write', scope => 'write');
my $res = api(GET => 'users/profile/me', token => $write_key);
ok t_cmp($res->{status}, 200, 'key works as bearer credentials');
ok t_cmp($res->{json}{data}{_id}, $admin_id, 'key acts for its user');
$res = api(GET => 'users?limit=1', token => $write_key);
ok t_cmp($res->{status}, 200, 'admin key lists users');
$res = api(POST => 'users', token => $write_key, json => user_body());
ok t_cmp($res->{status}, 201, 'admin write key creates a user');
my $made_id = $res->{json}{data}{_id};
$res = api(PUT => "users/$made_id", token => $write_key,
           json => { lastName => 'Changed' });
ok t_cmp($res->{status}, 200, 'admin write key updates a user');
my $it = create_integration($write_key);
ok t_cmp($it->{createdBy}, $admin_id,
         'integration made with a key belongs to the key user');
$res = api(GET => 'audit?limit=1', token => $write_key);
ok t_cmp($res->{status}, 200, 'admin key reads the audit log');

# Scheme names are case-insensitive (RFC 9110), keys too.
$res = api(GET => 'users/profile/me',
           headers => { Authorization => "bearer $write_key" });
ok t_cmp($res->{status}, 200, 'lower-case bearer scheme works with a key');
$res = api(GET => 'users/profile/me', token => "${write_key}x");
ok t_cmp($res->{status}, 401, 'key with an extra character is 401');
ok t_cmp($res->{json}{message}, 'Invalid API key', 'extra character message');
ok t_cmp($res->{headers}->header('WWW-Authenticate'), qr/invalid_token/,
         'rejected key gets WWW-Authenticate with invalid_token');

# /mcp accepts keys too.
$res = api(POST => '/mcp', token => $write_key,
           body => ItsmTest::json_encode({ jsonrpc => '2.0', id => 1,
                                           method => 'tools/list' }),
           headers => { Accept => 'application/json, text/event-stream' });
ok t_cmp($res->{status}, 200, '/mcp accepts a key');
ok t_cmp(ref $res->{json}{result}{tools}, 'ARRAY', '/mcp lists tools for it');

# --- a read key of an admin -----------------------------------------------

my ($read_key, $read_id) = key_for(name => 'admin read', scope => 'read');
$res = api(GET => 'users?limit=1', token => $read_key);
ok t_cmp($res->{status}, 200, 'read key GETs users');
$res = api(GET => "integration/$it->{_id}", token => $read_key);
ok t_cmp($res->{status}, 200, 'read key GETs an integration');
$res = api(GET => 'audit?limit=1', token => $read_key);
ok t_cmp($res->{status}, 200, 'read key GETs the audit log');

my @writes = (
    [ POST => 'users', user_body() ],
    [ PUT => "users/$made_id", { lastName => 'Read' } ],
    [ PUT => "users/$made_id/password", { newPassword => 'read-key-pw-1' } ],
    [ DELETE => "users/$made_id" ],
    [ POST => 'integration', integration_body() ],
    [ PUT => "integration/$it->{_id}", { description => 'read key' } ],
    [ DELETE => "integration/$it->{_id}" ],
    [ POST => "integration/$it->{_id}/check-health" ],
    [ POST => 'auth/api-keys', { name => 'from read key' } ],
    [ DELETE => "auth/api-keys/$read_id" ],
);
for my $w (@writes) {
    my ($method, $path, $body) = @$w;
    $res = api($method => $path, token => $read_key,
               ($body ? (json => $body) : ()));
    ok t_cmp($res->{status}, 403, "read key: $method $path is 403");
    ok t_cmp($res->{json}{message}, 'Access denied',
             "read key: $method $path message");
}
$res = api(GET => "users/$made_id", token => $admin);
ok t_cmp($res->{json}{data}{lastName}, 'Changed',
         'refused writes changed nothing');

# The token exchanged for a read key is read-only too.
my $read_token = exchange($read_key);
$res = api(GET => 'users?limit=1', token => $read_token);
ok t_cmp($res->{status}, 200, 'read token GETs users');
$res = api(POST => 'users', token => $read_token, json => user_body());
ok t_cmp($res->{status}, 403, 'read token cannot POST');
$res = api(DELETE => "users/$made_id", token => $read_token);
ok t_cmp($res->{status}, 403, 'read token cannot DELETE');

# --- keys of users who are not admins ---------------------------------------

my $plain = new_user(role => 'user');
my ($plain_key) = key_for(name => 'plain', userId => $plain->{id});
$res = api(GET => 'users/profile/me', token => $plain_key);
ok t_cmp($res->{json}{data}{_id}, $plain->{id}, 'plain key acts for its user');
$res = api(GET => 'users', token => $plain_key);
ok t_cmp($res->{status}, 403, 'key of a plain user cannot list users');
$res = api(GET => "users/$plain->{id}", token => $plain_key);
ok t_cmp($res->{status}, 200, 'key of a plain user reads its user');
$res = api(GET => "users/$admin_id", token => $plain_key);
ok t_cmp($res->{status}, 403, 'key of a plain user cannot read the admin');
$res = api(PUT => "users/$plain->{id}", token => $plain_key,
           json => { role => 'admin' });
ok t_cmp($res->{status}, 403, 'key of a plain user cannot raise its role');
$res = api(GET => 'integration', token => $plain_key);
ok t_cmp($res->{status}, 403, 'key of a plain user cannot list integrations');
$res = api(GET => 'audit', token => $plain_key);
ok t_cmp($res->{status}, 403, 'key of a plain user cannot read the audit log');

my $integrator = new_user(role => 'integrator');
my ($integrator_key) = key_for(name => 'integrator',
                               userId => $integrator->{id});
my $integrator_token = exchange($integrator_key);
$res = api(GET => 'integration', token => $integrator_key);
ok t_cmp($res->{status}, 200, 'integrator key lists integrations');
$res = api(DELETE => "users/$plain->{id}", token => $integrator_key);
ok t_cmp($res->{status}, 403, 'integrator key cannot delete users');

# The role is read on every request: a demoted user's key loses rights.
$res = api(PUT => "users/$integrator->{id}", token => $admin,
           json => { role => 'user' });
ok t_cmp($res->{status}, 200, 'integrator demoted to user');
$res = api(GET => 'integration', token => $integrator_key);
ok t_cmp($res->{status}, 403, 'demoted user key lost integrator rights');
$res = api(GET => 'integration', token => $integrator_token);
ok t_cmp($res->{status}, 403, 'demoted user token lost integrator rights');

# --- deactivation and deletion of the key user ------------------------------

my $gone = new_user(role => 'integrator');
my ($gone_key) = key_for(name => 'deactivated', userId => $gone->{id});
my $gone_token = exchange($gone_key);
$res = api(GET => 'users/profile/me', token => $gone_key);
ok t_cmp($res->{status}, 200, 'key works before deactivation');
$res = api(PUT => "users/$gone->{id}", token => $admin,
           json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'key user deactivated');
$res = api(GET => 'users/profile/me', token => $gone_key);
ok t_cmp($res->{status}, 401, 'key of a deactivated user is 401');
$res = api(POST => 'auth/api-key', json => { apiKey => $gone_key });
ok t_cmp($res->{status}, 401, 'key of a deactivated user cannot be exchanged');
ok t_cmp($res->{json}{message}, 'Invalid API key',
         'deactivated exchange message');
$res = api(GET => 'users/profile/me', token => $gone_token);
ok t_cmp($res->{status}, 401, 'token of a deactivated key user is 401');

my $deleted = new_user(role => 'integrator');
my ($deleted_key) = key_for(name => 'deleted', userId => $deleted->{id});
my $deleted_token = exchange($deleted_key);
$res = api(DELETE => "users/$deleted->{id}", token => $admin);
ok t_cmp($res->{status}, 200, 'key user deleted');
$res = api(GET => 'users/profile/me', token => $deleted_key);
ok t_cmp($res->{status}, 401, 'key of a deleted user is 401');
ok t_cmp($res->{json}{message}, 'Invalid API key',
         'key of a deleted user message');
$res = api(POST => 'auth/api-key', json => { apiKey => $deleted_key });
ok t_cmp($res->{status}, 401, 'key of a deleted user cannot be exchanged');
$res = api(GET => 'users/profile/me', token => $deleted_token);
ok t_cmp($res->{status}, 401, 'token of a deleted key user is 401');

# A key survives its user's password change; the user's own tokens do not.
my $pw = new_user(role => 'integrator');
my ($pw_key) = key_for(name => 'password change', userId => $pw->{id});
$res = api(PUT => "users/$pw->{id}/password", token => $admin,
           json => { newPassword => 'changed-by-admin-1' });
ok t_cmp($res->{status}, 200, 'key user password changed');
$res = api(GET => 'users/profile/me', token => $pw_key);
ok t_cmp($res->{status}, 200, 'key survives a password change');

# --- revocation -----------------------------------------------------------

my ($revoke_key, $revoke_id) = key_for(name => 'to revoke');
my $revoke_token = exchange($revoke_key);
$res = api(GET => 'users/profile/me', token => $revoke_token);
ok t_cmp($res->{status}, 200, 'exchanged token works before revocation');
$res = api(DELETE => "auth/api-keys/$revoke_id", token => $admin);
ok t_cmp($res->{status}, 200, 'key revoked');
$res = api(GET => 'users/profile/me', token => $revoke_token);
ok t_cmp($res->{status}, 401, 'exchanged token of a revoked key is 401');
ok t_cmp($res->{json}{message}, 'API key of this token is revoked or expired',
         'revoked key token message');
$res = api(GET => 'users/profile/me', token => $revoke_key);
ok t_cmp($res->{status}, 401, 'revoked key is 401 as bearer');
$res = api(GET => 'users/profile/me', token => $admin);
ok t_cmp($res->{status}, 200, 'revoking a key leaves the user token alone');

# --- expiry -----------------------------------------------------------------

my $expiry = time + 3;
my ($short_key) = key_for(name => 'short', expiresAt => iso_time($expiry));
my $short_token = exchange($short_key);
ok t_cmp(defined $short_token, 1, 'key exchanged before it expires');
$res = api(GET => 'users/profile/me', token => $short_key);
ok t_cmp($res->{status}, 200, 'key works before it expires');
sleep($expiry + 1 - time) if $expiry + 1 > time;
$res = api(GET => 'users/profile/me', token => $short_key);
ok t_cmp($res->{status}, 401, 'expired key is 401 as bearer');
ok t_cmp($res->{json}{message}, 'Invalid API key', 'expired key message');
$res = api(POST => 'auth/api-key', json => { apiKey => $short_key });
ok t_cmp($res->{status}, 401, 'expired key cannot be exchanged');
$res = api(GET => 'users/profile/me', token => $short_token);
ok t_cmp($res->{status}, 401, 'token of an expired key is 401');

ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
