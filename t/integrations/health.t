# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# POST /api/integration/:id/check-health against mock services on
# 127.0.0.1: what each kind of answer (or its absence) makes of the health,
# that GET /api/integration/:id shows the same result afterwards, and what
# the mock received. The test server has ITSMOutboundTimeout 3000 and
# ITSMHealthDegradedLatency 1000.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use IO::Socket::INET ();
use ItsmTest;
use ItsmIntegration;
use ItsmMock;

plan tests => 321;

my $admin = admin_token();

sub random_secret {
    my ($tag) = @_;
    return "$tag-" . unpack('H*', pack('N2', rand 2**32, rand 2**32));
}

my %secret = map { $_ => random_secret($_) }
             qw(password api-token bearer api-key client-secret zendesk);
my $email = 'agent@example.com';
my %mock_secrets = (
    username      => 'jira-user',
    password      => $secret{password},
    email         => $email,
    api_token     => $secret{'api-token'},
    bearer_token  => $secret{bearer},
    api_key       => $secret{'api-key'},
    client_id     => 'health-client',
    client_secret => $secret{'client-secret'},
    workers       => 4,
);
my $mock = ItsmMock->start(%mock_secrets);
my $zendesk = ItsmMock->start(%mock_secrets, api_token => $secret{zendesk});
my $moody = ItsmMock->start(%mock_secrets);
my $tls = ItsmMock->start(%mock_secrets, tls => 1);

my @secrets = (values %secret,
               http_basic('jira-user', $secret{password}),
               http_basic($email, $secret{'api-token'}),
               http_basic("$email/token", $secret{zendesk}));

# Every response body of this file, checked for secrets at the end.
my @bodies;

sub call {
    my $res = api(@_);
    push @bodies, $res->{body};
    return $res;
}

sub basic_auth {
    return { type => 'basic', credentials => {
        username => 'jira-user', password => $secret{password} } };
}

sub create {
    my (%opt) = @_;
    my $res = call(POST => 'integration', token => $admin,
                   json => integration_body(%opt));
    die "creating an integration failed: HTTP $res->{status}\n"
        unless $res->{status} == 201;
    return $res->{json}{data}{_id};
}

sub closed_port {
    my $socket = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Listen => 1)
        or die "cannot open a socket: $!\n";
    my $port = $socket->sockport;
    close $socket;
    return $port;
}

# Runs check-health on $id and compares it with %expect: status, message
# (string or pattern) and http (the expected httpStatus, or undef when no
# response arrived). Then checks that GET shows the same. Eleven
# assertions; returns the health data of the check.
sub check_health {
    my ($what, $id, %expect) = @_;
    my $res = call(POST => "integration/$id/check-health", token => $admin);
    my $health = $res->{json}{data} // {};
    ok t_cmp($res->{status}, 200, "$what check is 200");
    ok t_cmp($res->{json}{message}, 'Health check performed',
             "$what check message");
    ok t_cmp($health->{status}, $expect{status}, "$what status");
    ok t_cmp($health->{message}, $expect{message}, "$what health message");
    ok t_cmp($health->{httpStatus}, $expect{http}, "$what httpStatus");
    if (defined $expect{http} || $expect{latency}) {
        ok t_cmp($health->{latencyMs} // '', qr/^\d+$/, "$what latencyMs");
    }
    else {
        # Without a response the latency may be absent or measured.
        ok t_cmp($health->{latencyMs} // 0, qr/^\d+$/,
                 "$what latencyMs format");
    }

    my $stored = call(GET => "integration/$id", token => $admin)
        ->{json}{data}{health} // {};
    ok t_cmp($stored->{status}, $health->{status}, "$what stored status");
    ok t_cmp($stored->{message}, $health->{message},
             "$what stored message");
    ok t_cmp($stored->{lastChecked}, $health->{lastChecked},
             "$what stored lastChecked");
    ok t_cmp($stored->{latencyMs}, $health->{latencyMs},
             "$what stored latencyMs");
    ok t_cmp($stored->{httpStatus}, $health->{httpStatus},
             "$what stored httpStatus");
    return $health;
}

# Requests that $mock received on $path.
sub requests_to {
    my ($server, $path) = @_;
    return grep { $_->{path} eq $path } $server->requests;
}

my $healthy = 'Integration is active and responding';

# Jira with Basic username and password.
my $jira = create(baseUrl => $mock->url, auth => basic_auth());
$mock->clear_requests;
my $first = check_health('jira basic', $jira, status => 'healthy',
                         message => $healthy, http => 200);
my @seen = requests_to($mock, '/rest/api/3/myself');
ok t_cmp(scalar @seen >= 1, 1, 'jira basic reached the mock');
ok t_cmp($seen[0]{method}, 'GET', 'jira basic method');
ok t_cmp($seen[0]{auth}, 'basic', 'jira basic sends Basic');
ok t_cmp($seen[0]{user}, 'jira-user', 'jira basic user');
ok t_cmp(scalar(grep { !$_->{authorized} } @seen), 0,
         'jira basic requests are authorized');

# A second check writes a new lastChecked.
my $second = check_health('jira again', $jira, status => 'healthy',
                          message => $healthy, http => 200);
ok t_cmp(($second->{lastChecked} // '') gt ($first->{lastChecked} // ''),
         1, 'second check is later');

# config.auth without credentials keeps them, and they still work.
my $res = call(PUT => "integration/$jira", token => $admin,
               json => { config => { auth => { type => 'basic' } } });
ok t_cmp($res->{json}{data}{config}{auth}{hasCredentials}, JSON::PP::true,
         'kept credentials are reported');
$mock->clear_requests;
check_health('kept credentials', $jira, status => 'healthy',
             message => $healthy, http => 200);
@seen = requests_to($mock, '/rest/api/3/myself');
ok t_cmp(scalar(grep { $_->{authorized} } @seen) >= 1, 1,
         'kept credentials are sent');

# Jira with an Atlassian Cloud e-mail and API token.
my $cloud = create(baseUrl => $mock->url, auth => { type => 'basic',
    credentials => { email => $email, apiToken => $secret{'api-token'} } });
$mock->clear_requests;
check_health('jira cloud', $cloud, status => 'healthy', message => $healthy,
             http => 200);
@seen = requests_to($mock, '/rest/api/3/myself');
ok t_cmp($seen[0]{user}, $email, 'jira cloud user is the e-mail');
ok t_cmp($seen[0]{authorized}, 1, 'jira cloud is authorized');

# Jira with a bearer token.
my $bearer = create(baseUrl => $mock->url, auth => { type => 'bearer',
    credentials => { token => $secret{bearer} } });
$mock->clear_requests;
check_health('jira bearer', $bearer, status => 'healthy',
             message => $healthy, http => 200);
@seen = requests_to($mock, '/rest/api/3/myself');
ok t_cmp($seen[0]{auth}, 'bearer', 'jira bearer sends Bearer');
ok t_cmp($seen[0]{authorized}, 1, 'jira bearer is authorized');

# ServiceNow with Basic.
my $snow = create(type => 'servicenow', baseUrl => $mock->url,
                  auth => basic_auth());
$mock->clear_requests;
check_health('servicenow basic', $snow, status => 'healthy',
             message => $healthy, http => 200);
@seen = requests_to($mock, '/api/now/table/sys_user');
ok t_cmp(scalar @seen >= 1, 1, 'servicenow reached the mock');
ok t_cmp($seen[0]{query}, 'sysparm_limit=1', 'servicenow query');
ok t_cmp($seen[0]{auth}, 'basic', 'servicenow sends Basic');
ok t_cmp($seen[0]{authorized}, 1, 'servicenow is authorized');

# Zendesk with an API token, and with a wrong one: Zendesk then answers
# 200 with an anonymous user.
my $zd = create(type => 'zendesk', baseUrl => $zendesk->url,
                auth => { type => 'token', credentials => {
                    email => $email, apiToken => $secret{zendesk} } });
$zendesk->clear_requests;
check_health('zendesk token', $zd, status => 'healthy', message => $healthy,
             http => 200);
@seen = requests_to($zendesk, '/api/v2/users/me.json');
ok t_cmp(scalar @seen >= 1, 1, 'zendesk reached the mock');
ok t_cmp($seen[0]{user}, "$email/token", 'zendesk user is email/token');
ok t_cmp($seen[0]{authorized}, 1, 'zendesk is authorized');

my $zd_wrong = create(type => 'zendesk', baseUrl => $zendesk->url,
                      auth => { type => 'token', credentials => {
                          email => $email, apiToken => 'wrong-token' } });
check_health('zendesk wrong token', $zd_wrong, status => 'unhealthy',
             message => 'authentication failed (credentials not accepted)',
             http => 200);

# Rejected credentials.
my $wrong = create(baseUrl => $mock->url, auth => { type => 'basic',
    credentials => { username => 'jira-user', password => 'wrong' } });
check_health('rejected credentials', $wrong, status => 'unhealthy',
             message => 'authentication failed (HTTP 401)', http => 401);

# API key and OAuth client credentials on a custom service.
my $apikey = create(type => 'custom', baseUrl => $mock->url,
                    options => { healthPath => '/secure/health' },
                    auth => { type => 'apikey', credentials => {
                        apiKey => $secret{'api-key'} } });
$mock->clear_requests;
check_health('api key', $apikey, status => 'healthy', message => $healthy,
             http => 200);
@seen = requests_to($mock, '/secure/health');
ok t_cmp($seen[0]{auth}, 'apikey', 'api key header is sent');
ok t_cmp($seen[0]{authorized}, 1, 'api key is authorized');

my $oauth = create(type => 'custom', baseUrl => $mock->url,
                   options => { healthPath => '/secure/health',
                                tokenUrl => $mock->url('/oauth/token') },
                   auth => { type => 'oauth', credentials => {
                       clientId => 'health-client',
                       clientSecret => $secret{'client-secret'} } });
$mock->clear_requests;
check_health('oauth', $oauth, status => 'healthy', message => $healthy,
             http => 200);
my @grants = requests_to($mock, '/oauth/token');
ok t_cmp(scalar @grants >= 1, 1, 'oauth asked for a token');
ok t_cmp($grants[0]{method}, 'POST', 'oauth token request is a POST');
ok t_cmp($grants[0]{user}, 'health-client', 'oauth client id');
ok t_cmp($grants[0]{authorized}, 1, 'oauth client is accepted');
@seen = requests_to($mock, '/secure/health');
ok t_cmp($seen[0]{auth}, 'bearer', 'oauth probe sends Bearer');
ok t_cmp($seen[0]{authorized}, 1, 'oauth access token is accepted');

# A cached access token that the service revoked is replaced once.
$mock->revoke_tokens;
$mock->clear_requests;
check_health('revoked token', $oauth, status => 'healthy',
             message => $healthy, http => 200);
ok t_cmp(scalar(requests_to($mock, '/oauth/token')), 1,
         'revoked token is fetched again');

# ServiceNow OAuth defaults to {baseUrl}/oauth_token.do, with the client
# in the form body.
my $snow_oauth = create(type => 'servicenow', baseUrl => $mock->url,
                        auth => { type => 'oauth', credentials => {
                            clientId => 'health-client',
                            clientSecret => $secret{'client-secret'} } });
$mock->clear_requests;
check_health('servicenow oauth', $snow_oauth, status => 'healthy',
             message => $healthy, http => 200);
@grants = requests_to($mock, '/oauth_token.do');
ok t_cmp($grants[0]{auth}, 'form', 'servicenow client is in the form');
ok t_cmp($grants[0]{authorized}, 1, 'servicenow client is accepted');

# A custom service without healthPath is probed at its base URL.
my $bare = create(type => 'custom', baseUrl => $mock->url('/'));
$mock->clear_requests;
check_health('custom base URL', $bare, status => 'unhealthy',
             message => 'HTTP 404 from the service', http => 404);
ok t_cmp(scalar(requests_to($mock, '/')), 1, 'custom base URL requested');

# Service unavailable, and a hibernating instance that answers HTML.
my $down = create(baseUrl => $moody->url, auth => basic_auth());
$moody->set_mode('down');
check_health('503', $down, status => 'unhealthy',
             message => 'HTTP 503 from the service', http => 503);
my $asleep = create(baseUrl => $moody->url, auth => basic_auth());
$moody->set_mode('hibernate');
check_health('non-JSON 200', $asleep, status => 'degraded',
             message => 'responded with non-JSON content (the instance may '
                        . 'be hibernating)', http => 200);

# Slower than ITSMHealthDegradedLatency, and slower than the timeout.
my $slow = create(baseUrl => $moody->url, auth => basic_auth());
$moody->set_mode('slow', ms => 1300);
my $health = check_health('slow', $slow, status => 'degraded',
                          message => qr/^responding slowly \(\d+ ms\)$/,
                          http => 200);
ok t_cmp(($health->{latencyMs} // 0) >= 1300, 1, 'slow latency');
my $stuck = create(baseUrl => $moody->url, auth => basic_auth());
$moody->set_mode('slow', ms => 4000);
$health = check_health('timeout', $stuck, status => 'unhealthy',
                       message => qr/^timed out after \d+ ms$/,
                       http => undef, latency => 1);
my ($waited) = ($health->{message} // '') =~ /(\d+) ms/;
ok t_cmp(($waited // 0) >= 2900 && ($waited // 0) < 3900, 1,
         'timeout follows ITSMOutboundTimeout');
$moody->set_mode('up');

# Rate limited, with Retry-After.
my $limited = create(type => 'custom', baseUrl => $mock->url, options => {
                         healthPath => '/status/429?retry_after=30' });
check_health('429', $limited, status => 'degraded',
             message => 'rate limited by the service (Retry-After: 30)',
             http => 429);

# A redirect is reported, not followed.
my $redirect = create(type => 'custom', baseUrl => $mock->url,
                      options => { healthPath => '/redirect' });
$mock->clear_requests;
check_health('redirect', $redirect, status => 'unhealthy',
             message => qr{^redirect\ to\ http://127\.0\.0\.1:\d+
                           /rest/api/3/myself\ not\ followed\ \(HTTP\ 302\)$}x,
             http => 302);
ok t_cmp(scalar(requests_to($mock, '/redirect')) >= 1, 1,
         'redirect was requested');
ok t_cmp(scalar(requests_to($mock, '/rest/api/3/myself')), 0,
         'redirect target was not requested');

# Bodies over the 64 KiB cap, with and without Content-Length.
for my $path ('/big', '/big?chunked=1') {
    my $big = create(type => 'custom', baseUrl => $mock->url,
                     options => { healthPath => $path });
    check_health("body $path", $big, status => 'unhealthy',
                 message => 'response larger than 65536 bytes', http => 200);
}

# Nothing listens on the port.
my $port = closed_port();
my $refused = create(baseUrl => "http://127.0.0.1:$port",
                     auth => basic_auth());
check_health('refused', $refused, status => 'unhealthy',
             message => "connection to 127.0.0.1 port $port refused or failed",
             http => undef);

# A self-signed certificate fails verification, unless it is the
# integration's caCertificate.
my $untrusted = create(baseUrl => $tls->url, auth => basic_auth());
$tls->clear_requests;
check_health('self-signed TLS', $untrusted, status => 'unhealthy',
             message => qr/^TLS\ handshake\ or\ certificate\ verification
                           \ failed:\ /x,
             http => undef);
ok t_cmp(scalar($tls->requests), 0, 'no request over untrusted TLS');

open my $fh, '<', $tls->ca_file or die "cannot read the mock certificate\n";
my $pem = do { local $/; <$fh> };
close $fh;
my $trusted = create(baseUrl => $tls->url, auth => basic_auth(),
                     caCertificate => $pem);
$tls->clear_requests;
check_health('trusted TLS', $trusted, status => 'healthy',
             message => $healthy, http => 200);
@seen = requests_to($tls, '/rest/api/3/myself');
ok t_cmp($seen[0]{tls}, 1, 'trusted TLS request used TLS');
ok t_cmp($seen[0]{authorized}, 1, 'trusted TLS request is authorized');

# An inactive integration is not contacted.
$res = call(PUT => "integration/$jira", token => $admin,
            json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivate is 200');
$mock->clear_requests;
$res = call(POST => "integration/$jira/check-health", token => $admin);
ok t_cmp($res->{status}, 200, 'inactive check is 200');
ok t_cmp($res->{json}{data}{status}, 'inactive', 'inactive check status');
ok t_cmp($res->{json}{data}{message}, 'Integration is currently inactive',
         'inactive check message');
ok t_cmp(scalar($mock->requests), 0, 'inactive check sends no request');
$res = call(GET => "integration/$jira", token => $admin);
ok t_cmp($res->{json}{data}{health}{status}, 'inactive',
         'inactive status is stored');

# No response and no log line contains a credential.
ok t_cmp(scalar(grep { count_secrets($_, @secrets) } @bodies), 0,
         'no response contains a secret');
ok t_cmp(count_secrets(error_log_text(), @secrets), 0,
         'error log contains no secret');
