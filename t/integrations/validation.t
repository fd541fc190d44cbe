# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Create and update bodies that break a rule: each is 400 with a message
# that starts with the member at fault, and nothing is stored.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;

my $admin = admin_token();
my $base = default_mock()->url;

# Each case: name, a change to a valid create body, and the pattern the
# message must match. A change sets (or, with undef, deletes) the member
# at a dotted path.
my @create_cases = (
    [ 'name missing', { name => undef }, qr/^name is required/ ],
    [ 'name empty', { name => '' }, qr/^name must not be empty/ ],
    [ 'name not a string', { name => 42 }, qr/^name must be a string/ ],
    [ 'name too long', { name => 'n' x 201 }, qr/^name must be at most/ ],
    [ 'description not a string', { description => [] },
      qr/^description must be a string/ ],
    [ 'type missing', { type => undef }, qr/^type is required/ ],
    [ 'type unknown', { type => 'remedy' },
      'type must be one of jira, servicenow, zendesk, ivanti, cherwell, '
      . 'custom' ],
    [ 'type upper case', { type => 'JIRA' }, qr/^type must be one of / ],
    [ 'config missing', { config => undef }, qr/^config is required/ ],
    [ 'config not an object', { config => 'x' },
      qr/^config must be an object/ ],
    [ 'baseUrl missing', { 'config.baseUrl' => undef },
      qr/^config\.baseUrl is required/ ],
    [ 'baseUrl relative', { 'config.baseUrl' => '/rest' },
      qr/^config\.baseUrl must be an absolute http or https URL/ ],
    [ 'baseUrl ftp', { 'config.baseUrl' => 'ftp://127.0.0.1/' },
      qr/^config\.baseUrl must be an absolute http or https URL/ ],
    [ 'baseUrl no host', { 'config.baseUrl' => 'http://' },
      qr/^config\.baseUrl must be an absolute http or https URL/ ],
    [ 'baseUrl with password',
      { 'config.baseUrl' => 'http://user:pw@127.0.0.1/' },
      qr/^config\.baseUrl must be an absolute http or https URL/ ],
    [ 'baseUrl with query', { 'config.baseUrl' => "$base/?a=b" },
      qr/^config\.baseUrl must not contain a query/ ],
    [ 'baseUrl not a string', { 'config.baseUrl' => 1 },
      qr/^config\.baseUrl must be a string/ ],
    [ 'auth missing', { 'config.auth' => undef },
      qr/^config\.auth is required/ ],
    [ 'auth not an object', { 'config.auth' => 'basic' },
      qr/^config\.auth must be an object/ ],
    [ 'auth type missing', { 'config.auth' => {} },
      qr/^config\.auth\.type is required/ ],
    [ 'auth type unknown', { 'config.auth' => { type => 'kerberos' } },
      'config.auth.type must be one of basic, token, apikey, bearer, '
      . 'oauth, none' ],
    [ 'basic without credentials', { 'config.auth' => { type => 'basic' } },
      qr/^config\.auth\.credentials\.username is required/ ],
    [ 'basic without password',
      { 'config.auth' => { type => 'basic',
                           credentials => { username => 'u' } } },
      qr/^config\.auth\.credentials\.password is required/ ],
    [ 'basic email without apiToken',
      { 'config.auth' => { type => 'basic',
                           credentials => { email => 'a@example.com' } } },
      qr/^config\.auth\.credentials\.apiToken is required/ ],
    [ 'basic username with colon',
      { 'config.auth' => { type => 'basic', credentials => {
          username => 'a:b', password => 'p' } } },
      qr/^config\.auth\.credentials\.username must not contain ':'/ ],
    [ 'password not a string',
      { 'config.auth' => { type => 'basic', credentials => {
          username => 'u', password => 7 } } },
      qr/^config\.auth\.credentials\.password must be a string/ ],
    [ 'credentials not an object',
      { 'config.auth' => { type => 'basic', credentials => 'u:p' } },
      qr/^config\.auth\.credentials must be an object/ ],
    [ 'token without apiToken',
      { 'config.auth' => { type => 'token', credentials => {} } },
      qr/^config\.auth\.credentials\.apiToken is required/ ],
    [ 'zendesk token without email',
      { type => 'zendesk',
        'config.auth' => { type => 'token',
                           credentials => { apiToken => 't' } } },
      qr/^config\.auth\.credentials\.email is required/ ],
    [ 'bearer without token',
      { 'config.auth' => { type => 'bearer', credentials => {} } },
      qr/^config\.auth\.credentials\.token is required/ ],
    [ 'apikey without apiKey',
      { 'config.auth' => { type => 'apikey', credentials => {} } },
      qr/^config\.auth\.credentials\.apiKey is required/ ],
    [ 'apikey bad header name',
      { 'config.auth' => { type => 'apikey',
                           credentials => { apiKey => 'k' } },
        'config.options' => { apiKeyHeader => 'X Key' } },
      qr/^config\.options\.apiKeyHeader must be a valid HTTP header name/ ],
    [ 'oauth without clientId',
      { 'config.auth' => { type => 'oauth', credentials => {
          clientSecret => 's' } } },
      qr/^config\.auth\.credentials\.clientId is required/ ],
    [ 'oauth without clientSecret',
      { 'config.auth' => { type => 'oauth', credentials => {
          clientId => 'c' } } },
      qr/^config\.auth\.credentials\.clientSecret is required/ ],
    [ 'oauth without tokenUrl',
      { 'config.auth' => { type => 'oauth', credentials => {
          clientId => 'c', clientSecret => 's' } } },
      qr/^config\.options\.tokenUrl is required/ ],
    [ 'options not an object', { 'config.options' => [] },
      qr/^config\.options must be an object/ ],
    [ 'healthPath full URL',
      { type => 'custom',
        'config.options' => { healthPath => 'http://127.0.0.1/x' } },
      qr/^config\.options\.healthPath must be a path/ ],
    [ 'caCertificate not PEM', { 'config.caCertificate' => 'abc' },
      qr/^config\.caCertificate must be a PEM certificate/ ],
    [ 'endpoints not an array', { endpoints => {} },
      qr/^endpoints must be an array/ ],
    [ 'endpoint not an object', { endpoints => ['GET /x'] },
      qr/^endpoints\[0\] must be an object/ ],
    [ 'endpoint without name',
      { endpoints => [ { path => '/x', method => 'GET' } ] },
      qr/^endpoints\[0\]\.name is required/ ],
    [ 'endpoint without path',
      { endpoints => [ { name => 'x', method => 'GET' } ] },
      qr/^endpoints\[0\]\.path is required/ ],
    [ 'endpoint without method',
      { endpoints => [ { name => 'x', path => '/x' } ] },
      qr/^endpoints\[0\]\.method is required/ ],
    [ 'endpoint path without slash',
      { endpoints => [ { name => 'x', path => 'x', method => 'GET' } ] },
      qr/^endpoints\[0\]\.path must start with \// ],
    [ 'endpoint method unknown',
      { endpoints => [ { name => 'x', path => '/x', method => 'FETCH' } ] },
      'endpoints[0].method must be one of GET, POST, PUT, PATCH, DELETE' ],
    [ 'endpoint names repeat',
      { endpoints => [ { name => 'x', path => '/x', method => 'GET' },
                       { name => 'x', path => '/y', method => 'POST' } ] },
      qr/^endpoints\[1\]\.name repeats/ ],
    [ 'endpoint unknown member',
      { endpoints => [ { name => 'x', path => '/x', method => 'GET',
                         timeout => 5 } ] },
      qr/^Unknown field: endpoints\[0\]\.timeout$/ ],
    [ 'managers not an array', { managers => 'x' },
      qr/^managers must be an array/ ],
    [ 'manager unknown',
      { managers => ['0123456789abcdef01234567'] },
      qr/^managers\[0\] is not the id of an existing user/ ],
    [ 'manager not a string', { managers => [7] },
      qr/^managers\[0\] is not the id of an existing user/ ],
    [ 'isActive not a boolean', { isActive => 'yes' },
      qr/^isActive must be a boolean/ ],
    [ 'unknown top-level field', { credentials => { password => 'x' } },
      qr/^Unknown field: credentials$/ ],
    [ 'unknown config member', { 'config.timeout' => 5 },
      qr/^Unknown field: config\.timeout$/ ],
    [ 'unknown auth member', { 'config.auth.username' => 'u' },
      qr/^Unknown field: config\.auth\.username$/ ],
);

my @update_cases = (
    [ 'name empty', { name => '' }, qr/^name must not be empty/ ],
    [ 'type unknown', { type => 'remedy' }, qr/^type must be one of / ],
    [ 'baseUrl relative', { 'config.baseUrl' => 'rest' },
      qr/^config\.baseUrl must be an absolute http or https URL/ ],
    [ 'auth type unknown', { 'config.auth' => { type => 'kerberos' } },
      qr/^config\.auth\.type must be one of / ],
    [ 'basic without password',
      { 'config.auth' => { type => 'basic',
                           credentials => { username => 'u' } } },
      qr/^config\.auth\.credentials\.password is required/ ],
    # The stored Basic credentials have no bearer token.
    [ 'auth type without fitting credentials',
      { 'config.auth' => { type => 'bearer' } },
      qr/^config\.auth\.credentials\.token is required/ ],
    [ 'credentials removed for basic',
      { 'config.auth' => { type => 'basic', credentials => undef } },
      qr/^config\.auth\.credentials\.username is required/ ],
    [ 'endpoint method unknown',
      { endpoints => [ { name => 'x', path => '/x', method => 'get' } ] },
      qr/^endpoints\[0\]\.method must be one of / ],
    [ 'manager unknown', { managers => ['nobody'] },
      qr/^managers\[0\] is not the id of an existing user/ ],
    [ 'isActive not a boolean', { isActive => 0 },
      qr/^isActive must be a boolean/ ],
    [ 'unknown top-level field', { createdBy => 'me' },
      qr/^Unknown field: createdBy$/ ],
    [ 'unknown config member', { 'config.proxy' => 'x' },
      qr/^Unknown field: config\.proxy$/ ],
);

plan tests => 3 * @create_cases + 3 * @update_cases + 15;

# Returns a copy of $body with the changes applied.
sub changed {
    my ($body, $changes) = @_;
    my $copy = JSON::PP->new->decode(json_encode($body));
    for my $path (sort keys %$changes) {
        my @keys = split /\./, $path;
        my $last = pop @keys;
        my $node = $copy;
        $node = $node->{$_} //= {} for @keys;
        if (defined $changes->{$path}) {
            $node->{$last} = $changes->{$path};
        }
        else {
            delete $node->{$last};
        }
    }
    return $copy;
}

# Checks a 400 answer. Three assertions.
sub is_rejected {
    my ($res, $pattern, $what) = @_;
    ok t_cmp($res->{status}, 400, "$what is 400");
    ok t_cmp($res->{json}{success}, JSON::PP::false, "$what success");
    ok t_cmp($res->{json}{message}, $pattern, "$what message");
}

sub listed_ids {
    my $res = api(GET => 'integration?limit=1000', token => $admin);
    return map { $_->{_id} } @{ $res->{json}{data} // [] };
}

my %before = map { $_ => 1 } listed_ids();

for my $case (@create_cases) {
    my ($what, $changes, $pattern) = @$case;
    my $res = api(POST => 'integration', token => $admin,
                  json => changed(integration_body(), $changes));
    is_rejected($res, $pattern, "create $what");
}

my @after = grep { !$before{$_} } listed_ids();
ok t_cmp(scalar @after, 0, 'rejected creates store nothing');

# Names are unique without regard to case.
my $taken = create_integration($admin);
my $res = api(POST => 'integration', token => $admin,
              json => integration_body(name => uc $taken->{name}));
is_rejected($res, qr/^name is already used by another integration/,
            'create name taken');
$res = api(POST => 'integration', token => $admin,
           json => integration_body(name => lc $taken->{name}));
ok t_cmp($res->{status}, 400, 'create lower-case name taken');

# Updates of an integration with Basic credentials.
my $body = integration_body(
    auth => { type => 'basic',
              credentials => { username => 'u', password => 'p' } });
$res = api(POST => 'integration', token => $admin, json => $body);
ok t_cmp($res->{status}, 201, 'basic integration is created');
my $stored = $res->{json}{data};
my $id = $stored->{_id};

for my $case (@update_cases) {
    my ($what, $changes, $pattern) = @$case;
    my $update = changed({}, $changes);
    $res = api(PUT => "integration/$id", token => $admin, json => $update);
    is_rejected($res, $pattern, "update $what");
}
$res = api(PUT => "integration/$id", token => $admin,
           json => { name => lc $taken->{name} });
is_rejected($res, qr/^name is already used by another integration/,
            'update name taken');

$res = api(GET => "integration/$id", token => $admin);
ok t_cmp(json_encode($res->{json}{data}), json_encode($stored),
         'rejected updates change nothing');

# A changed auth type with credentials that fit it is accepted.
$res = api(PUT => "integration/$id", token => $admin, json => {
    config => { auth => { type => 'bearer',
                          credentials => { token => 'b' } } } });
ok t_cmp($res->{status}, 200, 'auth type with fitting credentials');

# Bodies that are not an object.
$res = api(PUT => "integration/$id", token => $admin, body => '[]');
ok t_cmp($res->{status}, 400, 'array body is 400');
$res = api(POST => 'integration', token => $admin, body => '{"name":');
ok t_cmp($res->{status}, 400, 'truncated body is 400');
$res = api(POST => 'integration', token => $admin, body => '',
           type => 'application/json');
ok t_cmp($res->{status}, 400, 'empty body is 400');
$res = api(POST => 'integration', token => $admin,
           body => json_encode(integration_body()), type => 'text/plain');
ok t_cmp($res->{status}, 415, 'text body is 415');
