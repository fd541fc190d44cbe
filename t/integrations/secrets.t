# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Credentials never leave the server. Every response of every endpoint,
# successes and errors, is searched for each secret of this file in every
# form it could take: as sent, inside an HTTP Basic value, as the stored
# ciphertext. config.auth.hasCredentials is all a client learns. At the
# end the error log is searched too.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMock;

plan tests => 53;

my $admin = admin_token();

sub random_secret {
    my ($tag) = @_;
    return "$tag-" . unpack('H*', pack('N2', rand 2**32, rand 2**32));
}

my %secret = map { $_ => random_secret("secret-$_") }
             qw(password token bearer key client new wrong);
my $mock = ItsmMock->start(
    username => 'secret-user', password => $secret{password},
    email => 'agent@example.com', api_token => $secret{token},
    bearer_token => $secret{bearer}, api_key => $secret{key},
    client_id => 'secret-client', client_secret => $secret{client},
    workers => 2);
my $base = $mock->url;
my @forms = (values %secret,
             http_basic('secret-user', $secret{password}),
             http_basic('secret-user', $secret{new}),
             http_basic('agent@example.com', $secret{token}),
             "secret-user:$secret{password}");

# Checks that a response contains none of the secrets. One assertion.
sub clean {
    my ($res, $what) = @_;
    ok t_cmp(count_secrets($res->{body}, @forms), 0, "$what has no secret");
}

my %auth = (
    basic  => { type => 'basic', credentials => {
                    username => 'secret-user',
                    password => $secret{password} } },
    token  => { type => 'token', credentials => {
                    email => 'agent@example.com',
                    apiToken => $secret{token} } },
    bearer => { type => 'bearer',
                credentials => { token => $secret{bearer} } },
    apikey => { type => 'apikey', credentials => { apiKey => $secret{key} } },
    oauth  => { type => 'oauth', credentials => {
                    clientId => 'secret-client',
                    clientSecret => $secret{client} } },
);
my %options = (
    apikey => { healthPath => '/secure/health' },
    oauth  => { healthPath => '/secure/health',
                tokenUrl => "$base/oauth/token" },
    basic  => { healthPath => '/secure/health' },
    token  => { healthPath => '/secure/health' },
    bearer => { healthPath => '/secure/health' },
);

# One integration per auth type: create, read, check.
my %id;
for my $type (sort keys %auth) {
    my $res = api(POST => 'integration', token => $admin,
                  json => integration_body(type => 'custom', baseUrl => $base,
                                           auth => $auth{$type},
                                           options => $options{$type}));
    ok t_cmp($res->{status}, 201, "$type create is 201");
    clean($res, "$type create");
    ok t_cmp($res->{json}{data}{config}{auth}{hasCredentials},
             JSON::PP::true, "$type hasCredentials");
    $id{$type} = $res->{json}{data}{_id};

    $res = api(POST => "integration/$id{$type}/check-health",
               token => $admin);
    ok t_cmp($res->{json}{data}{status}, 'healthy', "$type check healthy");
    clean($res, "$type check");
}

# The stored ciphertexts must not appear either.
push @forms, map { (sql('SELECT credentials FROM integrations WHERE id = '
                        . sql_quote($_)))[0] } values %id;

for my $type (sort keys %id) {
    clean(api(GET => "integration/$id{$type}", token => $admin),
          "$type get");
}
clean(api(GET => 'integration?limit=1000', token => $admin), 'list');
clean(api(GET => 'integration/type/custom?limit=1000', token => $admin),
      'by type');

# Updates: new credentials, kept credentials, rejected ones.
my $res = api(PUT => "integration/$id{basic}", token => $admin, json => {
    config => { auth => { type => 'basic', credentials => {
        username => 'secret-user', password => $secret{new} } } } });
ok t_cmp($res->{status}, 200, 'new credentials are 200');
clean($res, 'new credentials');
$res = api(PUT => "integration/$id{basic}", token => $admin,
           json => { config => { auth => { type => 'basic' } } });
clean($res, 'kept credentials');
$res = api(PUT => "integration/$id{basic}", token => $admin, json => {
    config => { auth => { type => 'basic', credentials => {
        username => 'secret:user', password => $secret{wrong} } } } });
ok t_cmp($res->{status}, 400, 'colon in user name is 400');
clean($res, 'colon in user name');
$res = api(PUT => "integration/$id{basic}", token => $admin, json => {
    config => { auth => { type => 'basic', credentials => {
        username => 'secret-user',
        password => "$secret{wrong}\r\nX: y" } } } });
ok t_cmp($res->{status}, 400, 'line break in password is 400');
clean($res, 'line break in password');
$res = api(PUT => "integration/$id{oauth}", token => $admin, json => {
    config => { options => {},
                auth => { type => 'oauth', credentials => {
                    clientId => 'secret-client',
                    clientSecret => $secret{client} } } } });
ok t_cmp($res->{status}, 400, 'oauth without tokenUrl is 400');
clean($res, 'oauth without tokenUrl');
$res = api(POST => 'integration', token => $admin, json => integration_body(
    auth => { type => 'basic', password => $secret{wrong} }));
ok t_cmp($res->{status}, 400, 'misplaced password is 400');
clean($res, 'misplaced password');

# Failed checks: wrong password (401 from the service) and a token
# endpoint that rejects the client.
$res = api(PUT => "integration/$id{basic}", token => $admin, json => {
    config => { auth => { type => 'basic', credentials => {
        username => 'secret-user', password => $secret{wrong} } } } });
$res = api(POST => "integration/$id{basic}/check-health", token => $admin);
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'wrong password check');
clean($res, 'wrong password check');
$res = api(PUT => "integration/$id{oauth}", token => $admin, json => {
    config => { auth => { type => 'oauth', credentials => {
        clientId => 'secret-client', clientSecret => $secret{wrong} } } } });
$res = api(POST => "integration/$id{oauth}/check-health", token => $admin);
ok t_cmp($res->{json}{data}{message},
         'OAuth token request rejected (HTTP 401, invalid_client)',
         'rejected client check');
clean($res, 'rejected client check');

# Removing credentials.
$res = api(PUT => "integration/$id{bearer}", token => $admin, json => {
    config => { auth => { type => 'none', credentials => undef } } });
ok t_cmp($res->{json}{data}{config}{auth}{hasCredentials}, JSON::PP::false,
         'removed credentials are reported');
clean($res, 'removed credentials');

clean(api(POST => 'integration/credentials/reencrypt', token => $admin),
      'reencrypt');
clean(api(DELETE => "integration/$id{apikey}", token => $admin), 'delete');

my @rows = sql('SELECT credentials FROM integrations WHERE id = '
               . sql_quote($id{bearer}));
ok t_cmp($rows[0] // '', '', 'removed credentials are gone from the row');

ok t_cmp(count_secrets(error_log_text(), @forms), 0,
         'error log contains no secret');
