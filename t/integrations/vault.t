# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Credentials at rest: what the database holds, what happens to a
# ciphertext moved to another row or changed, and key rotation with
# POST /api/integration/credentials/reencrypt. The main server has one
# credential key. The virtual host itsm_old_key seals with a second key
# (the "previous" one), and itsm_rotated has the main key as primary and
# the previous one as ITSMCredentialOldKeyFile.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use MIME::Base64 ();
use ItsmTest;
use ItsmIntegration;
use ItsmMock;

plan tests => 55;

my $admin = admin_token();

sub random_secret {
    my ($tag) = @_;
    return "$tag-" . unpack('H*', pack('N2', rand 2**32, rand 2**32));
}

my $password = random_secret('vault-password');
my $other_password = random_secret('vault-other');
my $mock = ItsmMock->start(username => 'vault-user', password => $password,
                           workers => 2);
my @secrets = ($password, $other_password,
               http_basic('vault-user', $password),
               http_basic('other-user', $other_password));
my @bodies;

sub call {
    my $res = api(@_);
    push @bodies, $res->{body};
    return $res;
}

sub sealed_of {
    my ($id) = @_;
    my ($sealed) = sql('SELECT credentials FROM integrations WHERE id = '
                       . sql_quote($id));
    return $sealed // '';
}

sub set_sealed {
    my ($id, $sealed) = @_;
    sql('UPDATE integrations SET credentials = ' . sql_quote($sealed)
        . ' WHERE id = ' . sql_quote($id));
}

sub key_id_of {
    my ($sealed) = @_;
    return $sealed =~ /^v1\.([0-9a-f]{16})\./ ? $1 : '';
}

sub check {
    my ($id) = @_;
    return call(POST => "integration/$id/check-health", token => $admin);
}

my $undecryptable = 'Stored credentials cannot be decrypted (a missing '
                    . 'key, or an altered or moved ciphertext); set them '
                    . 'again';

# The database holds ciphertext only.
my $id = create_integration($admin, baseUrl => $mock->url, auth => {
    type => 'basic', credentials => { username => 'vault-user',
                                      password => $password } })->{_id};
my $sealed = sealed_of($id);
ok t_cmp($sealed, qr/^v1\.[0-9a-f]{16}\.[A-Za-z0-9_-]+$/,
         'stored credentials are sealed');
ok t_cmp(has_text($sealed, $password), 0, 'ciphertext lacks the password');
ok t_cmp(has_text($sealed, 'vault-user'), 0, 'ciphertext lacks the user');
(my $data = (split /\./, $sealed)[2] // '') =~ tr{-_}{+/};
ok t_cmp(has_text(MIME::Base64::decode_base64($data), $password), 0,
         'ciphertext is not encoded plaintext');
my $main_key = key_id_of($sealed);

my $db = var_dir() . '/itsm.db';
my $files_with_password = 0;
for my $file ($db, "$db-wal") {
    next unless -e $file;
    open my $fh, '<:raw', $file or die "cannot read $file: $!\n";
    my $bytes = do { local $/; <$fh> };
    close $fh;
    $files_with_password += has_text($bytes, $password);
}
ok t_cmp($files_with_password, 0, 'database files lack the password');

my $res = call(GET => "integration/$id", token => $admin);
ok t_cmp(has_text($res->{body}, $sealed), 0, 'response lacks the ciphertext');
ok t_cmp(has_text($res->{body}, $main_key), 0, 'response lacks the key id');

# Each save seals anew, with a fresh nonce.
call(PUT => "integration/$id", token => $admin, json => { config => {
    auth => { type => 'basic', credentials => { username => 'vault-user',
                                                password => $password } } } });
my $resealed = sealed_of($id);
ok t_cmp($resealed ne $sealed, 1, 'same credentials seal differently');
$sealed = $resealed;

$mock->clear_requests;
$res = check($id);
ok t_cmp($res->{json}{data}{status}, 'healthy', 'sealed credentials work');

# A ciphertext moved from another row does not open: the integration id
# is part of what was sealed.
my $other = create_integration($admin, baseUrl => $mock->url, auth => {
    type => 'basic', credentials => { username => 'other-user',
                                      password => $other_password } })->{_id};
sql('UPDATE integrations SET credentials = (SELECT credentials FROM '
    . 'integrations WHERE id = ' . sql_quote($other) . ') WHERE id = '
    . sql_quote($id));
ok t_cmp(sealed_of($id), sealed_of($other), 'ciphertext was moved');
$mock->clear_requests;
$res = check($id);
ok t_cmp($res->{status}, 200, 'moved ciphertext check is 200');
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'moved ciphertext status');
ok t_cmp($res->{json}{data}{message}, $undecryptable,
         'moved ciphertext message');
ok t_cmp(scalar($mock->requests), 0, 'moved ciphertext is not used');
ok t_cmp(has_text($res->{body}, $other_password), 0,
         'other row secret is not shown');
$res = call(GET => "integration/$id", token => $admin);
ok t_cmp($res->{json}{data}{health}{message}, $undecryptable,
         'moved ciphertext result is stored');
ok t_cmp(has_text(error_log_text(),
                  "cannot decrypt the credentials of integration $id"), 1,
         'decryption failure is logged');

# A changed ciphertext does not open either.
my $tampered = $sealed;
substr($tampered, -5, 1) = substr($tampered, -5, 1) eq 'A' ? 'B' : 'A';
set_sealed($id, $tampered);
$res = check($id);
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'changed ciphertext status');
ok t_cmp($res->{json}{data}{message}, $undecryptable,
         'changed ciphertext message');
ok t_cmp(scalar($mock->requests), 0, 'changed ciphertext is not used');

# An update that keeps such credentials still works.
$res = call(PUT => "integration/$id", token => $admin,
            json => { description => 'still editable' });
ok t_cmp($res->{status}, 200, 'undecryptable row can be edited');

set_sealed($id, $sealed);
$res = check($id);
ok t_cmp($res->{json}{data}{status}, 'healthy', 'restored ciphertext works');

# With a single key nothing needs re-encrypting.
$res = call(POST => 'integration/credentials/reencrypt', token => $admin);
ok t_cmp($res->{status}, 200, 'reencrypt is 200');
ok t_cmp($res->{json}{success}, JSON::PP::true, 'reencrypt success');
ok t_cmp($res->{json}{message}, 'Credentials re-encrypted',
         'reencrypt message');
ok t_cmp($res->{json}{data}{reencrypted}, 0, 'one key reencrypts nothing');
ok t_cmp($res->{json}{data}{failed}, 0, 'one key fails nothing');
ok t_cmp($res->{json}{data}{keyId}, $main_key, 'reencrypt names the key');
ok t_cmp(sealed_of($id), $sealed, 'reencrypt kept the ciphertext');

# Key rotation. A row sealed with the previous key...
my $rotated = on_vhost('itsm_old_key', sub {
    create_integration($admin, baseUrl => $mock->url, auth => {
        type => 'basic', credentials => { username => 'vault-user',
                                          password => $password } });
})->{_id};
my $old_sealed = sealed_of($rotated);
my $old_key = key_id_of($old_sealed);
ok t_cmp($old_key =~ /^[0-9a-f]{16}$/ && $old_key ne $main_key, 1,
         'old key has another id');
$res = on_vhost('itsm_old_key', sub { check($rotated) });
ok t_cmp($res->{json}{data}{status}, 'healthy', 'old key opens its row');

# ...does not open where that key is not loaded...
$mock->clear_requests;
$res = check($rotated);
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'unknown key status');
ok t_cmp($res->{json}{data}{message}, $undecryptable, 'unknown key message');
ok t_cmp(scalar($mock->requests), 0, 'unknown key sends nothing');

# ...and cannot be re-encrypted there, which reencrypt reports.
$res = call(POST => 'integration/credentials/reencrypt', token => $admin);
ok t_cmp($res->{json}{data}{reencrypted}, 0, 'unknown key reencrypts nothing');
ok t_cmp($res->{json}{data}{failed}, 1, 'unknown key is a failure');
ok t_cmp(sealed_of($rotated), $old_sealed, 'unknown key row is unchanged');

# The rotated host opens it with the previous key and re-seals it under
# its primary key, the main server's key.
$res = on_vhost('itsm_rotated', sub { check($rotated) });
ok t_cmp($res->{json}{data}{status}, 'healthy', 'rotated host opens it');
$res = on_vhost('itsm_rotated', sub {
    call(POST => 'integration/credentials/reencrypt', token => $admin);
});
ok t_cmp($res->{status}, 200, 'rotation reencrypt is 200');
ok t_cmp($res->{json}{data}{reencrypted}, 1, 'rotation reencrypts the row');
ok t_cmp($res->{json}{data}{failed}, 0, 'rotation fails nothing');
ok t_cmp($res->{json}{data}{keyId}, $main_key, 'rotation names the new key');
my $new_sealed = sealed_of($rotated);
ok t_cmp(key_id_of($new_sealed), $main_key, 'row is sealed with the new key');
ok t_cmp($new_sealed ne $old_sealed, 1, 'row has a new ciphertext');
ok t_cmp(has_text($new_sealed, $password), 0,
         'new ciphertext lacks the password');
ok t_cmp(sealed_of($id), $sealed, 'rows of the new key are unchanged');

$res = on_vhost('itsm_rotated', sub {
    call(POST => 'integration/credentials/reencrypt', token => $admin);
});
ok t_cmp($res->{json}{data}{reencrypted}, 0, 'second rotation does nothing');

# After rotation the main server opens the row, and the old host cannot.
$mock->clear_requests;
$res = check($rotated);
ok t_cmp($res->{json}{data}{status}, 'healthy', 'main server opens it now');
ok t_cmp((grep { $_->{authorized} } $mock->requests) >= 1, 1,
         'rotated credentials are sent');
$res = on_vhost('itsm_old_key', sub { check($rotated) });
ok t_cmp($res->{json}{data}{message}, $undecryptable,
         'old key no longer opens it');
$res = call(POST => 'integration/credentials/reencrypt', token => $admin);
ok t_cmp($res->{json}{data}{failed}, 0, 'main server has no failures left');

# Only the admin may re-encrypt.
my $integrator = new_user(role => 'integrator');
$res = call(POST => 'integration/credentials/reencrypt',
            token => $integrator->{token});
ok t_cmp($res->{status}, 403, 'integrator cannot reencrypt');
$res = call(POST => 'integration/credentials/reencrypt');
ok t_cmp($res->{status}, 401, 'anonymous cannot reencrypt');

ok t_cmp(scalar(grep { count_secrets($_, @secrets) } @bodies), 0,
         'no response contains a secret');
ok t_cmp(count_secrets(error_log_text(), @secrets), 0,
         'error log contains no secret');
