# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The admin endpoints of API keys: POST /api/auth/api-keys returns the key
# once, GET lists keys without secrets, DELETE revokes. Only a BLAKE2b-256
# hash of a key's secret part reaches the database, and only admins may
# use these endpoints.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration qw(sql sql_quote);
use ItsmLists;
use Time::HiRes qw(time);

plan tests => 107;

my $admin = admin_token();
my $admin_id = token_claims($admin)->{sub};
my @keys;                       # every key created here, for the leak checks

sub created_key {
    my ($res) = @_;
    my $key = $res->{json}{data}{key};
    push @keys, $key if defined $key;
    return $key;
}

# --- create: response shape and defaults ---------------------------------

my $before = time;
my $res = create_key(undef, $admin, name => 'ci-reader', scope => 'read');
ok t_cmp($res->{status}, 201, 'create is 201');
ok t_cmp($res->{type}, qr{^application/json}, 'create responds with JSON');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'create success is true');
ok t_cmp($res->{json}{message}, qr/not shown again/,
         'create message says the key is shown once');
my $data = $res->{json}{data} // {};
ok t_cmp(join(',', sort keys %$data),
         '_id,createdAt,createdBy,expiresAt,key,lastUsedAt,name,revoked,'
         . 'revokedAt,scope,userId', 'created key has the documented fields');
ok t_cmp($data->{_id}, qr/^[0-9a-f]{24}$/, 'key _id is 24 hex digits');
ok t_cmp($data->{name}, 'ci-reader', 'key name');
ok t_cmp($data->{scope}, 'read', 'key scope');
ok t_cmp($data->{userId}, $admin_id, 'userId defaults to the caller');
ok t_cmp($data->{createdBy}, $admin_id, 'createdBy is the caller');
ok t_cmp($data->{createdAt}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
         'createdAt is an ISO time');
ok t_cmp($data->{expiresAt}, undef, 'expiresAt defaults to null');
ok t_cmp($data->{lastUsedAt}, undef, 'lastUsedAt is null before use');
ok t_cmp($data->{revoked}, JSON::PP::false, 'new key is not revoked');
ok t_cmp($data->{revokedAt}, undef, 'revokedAt is null');

my $read_key = created_key($res);
my ($read_public, $read_secret) = key_parts($read_key);
ok t_cmp(defined $read_public, 1, 'key has the form itsm_<id>_<secret>');
ok t_cmp($read_public // '', $data->{_id}, 'key embeds the key id');
my $read_id = $data->{_id};

$res = create_key(undef, $admin, name => 'default scope');
ok t_cmp($res->{status}, 201, 'key without scope is 201');
ok t_cmp($res->{json}{data}{scope}, 'write', 'scope defaults to write');
my $write_key = created_key($res);
my $write_id = $res->{json}{data}{_id};
my (undef, $write_secret) = key_parts($write_key);
ok t_cmp(($write_secret // '') ne ($read_secret // ''), 1,
         'two keys have different secrets');

my $user = new_user(role => 'user');
$res = create_key(undef, $admin, name => 'for a user', userId => $user->{id},
                  scope => 'write', expiresAt => '2030-01-31T00:00:00Z');
ok t_cmp($res->{status}, 201, 'key for another user is 201');
ok t_cmp($res->{json}{data}{userId}, $user->{id}, 'userId is the given user');
ok t_cmp($res->{json}{data}{createdBy}, $admin_id,
         'createdBy is still the caller');
ok t_cmp($res->{json}{data}{expiresAt}, '2030-01-31T00:00:00.000Z',
         'expiresAt is stored');
my $user_key = created_key($res);
my $user_key_id = $res->{json}{data}{_id};

$res = create_key(undef, $admin, name => 'explicit null expiry',
                  expiresAt => undef);
ok t_cmp($res->{status}, 201, 'expiresAt null is 201');
ok t_cmp($res->{json}{data}{expiresAt}, undef, 'expiresAt null stays null');
created_key($res);

# Names are counted in characters, as the message says.
$res = create_key(undef, $admin, name => "\x{e9}" x 100);
ok t_cmp($res->{status}, 201, 'name of 100 two-byte characters is 201');
ok t_cmp($res->{json}{data}{name}, "\x{e9}" x 100,
         'multi-byte name comes back unchanged');
created_key($res);

# --- create: input checks, each naming the field -------------------------

my @invalid = (
    [ 'missing name', { scope => 'read', name => undef }, qr/\bname\b/ ],
    [ 'empty name', { name => '' }, qr/\bname\b/ ],
    [ 'name of 101 characters', { name => 'n' x 101 }, qr/\bname\b/ ],
    [ 'numeric name', { name => 42 }, qr/\bname\b/ ],
    [ 'unknown scope', { scope => 'admin' }, qr/\bscope\b/ ],
    [ 'numeric scope', { scope => 1 }, qr/\bscope\b/ ],
    [ 'unknown userId', { userId => '0123456789abcdef01234567' },
      qr/\buserId\b/ ],
    [ 'malformed userId', { userId => 'nobody' }, qr/\buserId\b/ ],
    [ 'numeric userId', { userId => 5 }, qr/\buserId\b/ ],
    [ 'expiresAt in the past', { expiresAt => '2001-01-01T00:00:00Z' },
      qr/\bexpiresAt\b/ ],
    [ 'expiresAt not a time', { expiresAt => 'tomorrow' },
      qr/\bexpiresAt\b/ ],
    [ 'numeric expiresAt', { expiresAt => 1893456000 }, qr/\bexpiresAt\b/ ],
    [ 'unknown field', { role => 'admin' }, qr/Unknown field: role/ ],
);
for my $case (@invalid) {
    my ($label, $body, $message) = @$case;
    my %body = (name => 'invalid', %$body);
    delete $body{name} unless defined $body{name};
    $res = call(undef, POST => 'auth/api-keys', token => $admin,
                json => \%body);
    ok t_cmp($res->{status}, 400, "$label is 400");
    ok t_cmp($res->{json}{message}, $message, "$label names the field");
}

# --- list ---------------------------------------------------------------

# Used once, so that lastUsedAt is set.
$res = api(GET => 'users/profile/me', token => $write_key);
ok t_cmp($res->{status}, 200, 'write key authenticates');

my ($listed, $pages) = all_pages(undef, $admin, 'auth/api-keys', limit => 2);
ok t_cmp(scalar(@$pages) > 1, 1, 'key list pages with limit 2');
ok t_cmp(ref $pages->[0]{total} eq '' && $pages->[0]{total} >= @keys, 1,
         'key list has a total');
ok t_cmp(scalar @$listed, $pages->[0]{total}, 'pages add up to the total');
my %by_id = map { $_->{_id} => $_ } @$listed;
ok t_cmp(scalar(keys %by_id), scalar @$listed, 'no key is listed twice');

my $item = $by_id{$read_id} // {};
ok t_cmp(join(',', sort keys %$item),
         '_id,createdAt,createdBy,expiresAt,lastUsedAt,name,revoked,'
         . 'revokedAt,scope,userId', 'listed key has no key or hash member');
ok t_cmp($item->{name}, 'ci-reader', 'listed name');
ok t_cmp($item->{scope}, 'read', 'listed scope');
ok t_cmp($item->{userId}, $admin_id, 'listed user');
ok t_cmp($item->{createdAt}, $data->{createdAt}, 'listed createdAt');
ok t_cmp($item->{revoked}, JSON::PP::false, 'listed key is not revoked');
ok t_cmp($by_id{$user_key_id}{expiresAt}, '2030-01-31T00:00:00.000Z',
         'listed expiresAt');
ok t_cmp($by_id{$write_id}{lastUsedAt},
         qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
         'lastUsedAt is set after use');
ok t_cmp($by_id{$read_id}{lastUsedAt}, undef,
         'lastUsedAt stays null for an unused key');

my $list_text = join '', map { ItsmTest::json_encode($_) } @$pages;
ok t_cmp(scalar(grep { has_text($list_text, (key_parts($_))[1]) } @keys), 0,
         'no secret part of a key is listed');

# Oldest first: createdAt never decreases from item to item.
my $ordered = 1;
for my $i (1 .. $#$listed) {
    $ordered = 0 if $listed->[$i]{createdAt} lt $listed->[$i - 1]{createdAt};
}
ok t_cmp($ordered, 1, 'keys are listed oldest first');

$res = api(GET => 'auth/api-keys?limit=0', token => $admin);
ok t_cmp($res->{status}, 400, 'key list limit 0 is 400');
ok t_cmp($res->{json}{message}, qr/\blimit\b/, 'key list names limit');
$res = api(GET => 'auth/api-keys?cursor=bogus', token => $admin);
ok t_cmp($res->{status}, 400, 'key list bad cursor is 400');
ok t_cmp($res->{json}{message}, qr/\bcursor\b/, 'key list names cursor');

# --- revoke ---------------------------------------------------------------

$res = api(DELETE => "auth/api-keys/$user_key_id", token => $admin);
ok t_cmp($res->{status}, 200, 'revoke is 200');
ok t_cmp($res->{json}{message}, 'API key revoked', 'revoke message');
($listed) = all_pages(undef, $admin, 'auth/api-keys', limit => 1000);
($item) = grep { $_->{_id} eq $user_key_id } @$listed;
ok t_cmp($item->{revoked}, JSON::PP::true, 'revoked key is listed revoked');
ok t_cmp($item->{revokedAt}, qr/^\d{4}-\d\d-\d\dT/, 'revokedAt is set');

$res = api(DELETE => "auth/api-keys/$user_key_id", token => $admin);
ok t_cmp($res->{status}, 200, 'revoking again is 200');
ok t_cmp($res->{json}{message}, 'API key was already revoked',
         'revoking again says so');
$res = api(DELETE => 'auth/api-keys/0123456789abcdef01234567',
           token => $admin);
ok t_cmp($res->{status}, 404, 'revoking an unknown key is 404');
$res = api(DELETE => 'auth/api-keys/not-an-id', token => $admin);
ok t_cmp($res->{status}, 404, 'revoking a malformed id is 404');

$res = api(GET => 'users/profile/me', token => $user_key);
ok t_cmp($res->{status}, 401, 'revoked key is rejected as bearer');
ok t_cmp($res->{json}{message}, 'Invalid API key',
         'revoked key message');
$res = api(POST => 'auth/api-key', json => { apiKey => $user_key });
ok t_cmp($res->{status}, 401, 'revoked key cannot be exchanged');

# --- only admins --------------------------------------------------------

my $integrator = new_user(role => 'integrator');
for my $who ([ 'user', $user->{token} ],
             [ 'integrator', $integrator->{token} ]) {
    my ($role, $token) = @$who;
    $res = create_key(undef, $token, name => 'not allowed');
    ok t_cmp($res->{status}, 403, "$role cannot create keys");
    ok t_cmp(defined $res->{json}{data}, '', "$role gets no key");
    $res = api(GET => 'auth/api-keys', token => $token);
    ok t_cmp($res->{status}, 403, "$role cannot list keys");
    $res = api(DELETE => "auth/api-keys/$read_id", token => $token);
    ok t_cmp($res->{status}, 403, "$role cannot revoke keys");
}
$res = api(GET => 'auth/api-keys');
ok t_cmp($res->{status}, 401, 'listing keys without a token is 401');
$res = api(POST => 'auth/api-keys', json => { name => 'anonymous' });
ok t_cmp($res->{status}, 401, 'creating a key without a token is 401');

# A key of a plain user has that user's rights, so none here.
$res = create_key(undef, $admin, name => 'plain user key',
                  userId => $user->{id});
my $plain_key = created_key($res);
$res = api(GET => 'auth/api-keys', token => $plain_key);
ok t_cmp($res->{status}, 403, 'key of a plain user cannot list keys');
$res = create_key(undef, $plain_key, name => 'escalation');
ok t_cmp($res->{status}, 403, 'key of a plain user cannot create keys');

# A read key of an admin lists keys but changes nothing.
$res = api(GET => 'auth/api-keys', token => $read_key);
ok t_cmp($res->{status}, 200, 'read key of an admin lists keys');
$res = create_key(undef, $read_key, name => 'from a read key');
ok t_cmp($res->{status}, 403, 'read key cannot create keys');
$res = api(DELETE => "auth/api-keys/$write_id", token => $read_key);
ok t_cmp($res->{status}, 403, 'read key cannot revoke keys');

# --- storage: a hash of the secret, never the secret ----------------------

my %stored = map { (split /\|/)[0, 1] }
    sql('SELECT id, secret_hash FROM api_keys');
my ($hashes_ok, $found) = (1, 0);
for my $key (@keys) {
    my ($public, $secret) = key_parts($key);
    my $hash = $stored{$public};
    next unless defined $hash;
    $found++;
    $hashes_ok = 0 unless $hash eq blake2b_256_hex($secret);
}
ok t_cmp($found, scalar @keys, 'every created key has a row');
ok t_cmp($hashes_ok, 1, 'each row stores BLAKE2b-256 of the secret part');

my $dump = db_dump(var_dir() . '/itsm.db');
ok t_cmp(length($dump) > 1000, 1, 'database dump is not empty');
ok t_cmp(scalar(grep { has_text($dump, (key_parts($_))[1]) } @keys), 0,
         'no secret part of any key is in the database');
ok t_cmp(scalar(grep { has_text($dump, $_) } @keys), 0,
         'no whole key is in the database');
ok t_cmp(scalar(grep { has_text($dump, $_) } values %stored),
         scalar(keys %stored), 'the hashes themselves are in the dump');

ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
