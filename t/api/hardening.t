# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Defences found by attacking a running server: wrong current passwords
# count as failed logins, over-long e-mail addresses are refused before
# any work, an Origin of another scheme is foreign to /mcp, impossible
# dates are invalid, and a service that echoes the Authorization header
# in its error does not get the credential into our answer.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use ItsmTest;
use ItsmIntegration;
use ItsmMock;

plan tests => 18;

my $admin = admin_token();

# --- wrong current passwords are throttled like logins --------------------
my $user = new_user(role => 'user');
my @statuses;
for (1 .. 7) {
    push @statuses, api(PUT => "users/$user->{id}/password",
                        token => $user->{token},
                        json => { currentPassword => 'wrong-password-1',
                                  newPassword => 'new-password-1' })->{status};
}
ok t_cmp(join(',', @statuses[0 .. 4]), '400,400,400,400,400',
         'wrong current password is 400');
ok t_cmp($statuses[6], 429, 'then current password is throttled');

# --- login input ---------------------------------------------------------
my $res = api(POST => 'auth/login',
              json => { email => ('x' x 300) . '@example.com',
                        password => 'whatever-1' });
ok t_cmp($res->{status}, 400, 'long e-mail is 400');
ok t_cmp($res->{json}{message}, qr/^email must be at most/,
         'long e-mail message');

# --- /mcp Origin with another scheme --------------------------------------
my $host = Apache::TestRequest::hostport();
$res = api(POST => '/mcp', token => $admin,
           body => '{"jsonrpc":"2.0","id":1,"method":"ping"}',
           headers => { Origin => "https://$host",
                        Accept => 'application/json' });
ok t_cmp($res->{status}, 403, 'origin of another scheme is 403');

# --- impossible dates ----------------------------------------------------
$res = api(POST => 'auth/api-keys', token => $admin,
           json => { name => 'bad date', expiresAt => '2030-02-31T00:00:00Z' });
ok t_cmp($res->{status}, 400, 'February 31 is 400');
ok t_cmp($res->{json}{message}, qr/^expiresAt/, 'February 31 message');

# --- a service that echoes the Authorization header -----------------------
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                   Listen => 5, ReuseAddr => 1)
    or die "cannot listen: $!";
my $port = $listen->sockport;
my $pid = fork() // die "fork failed: $!";
if (!$pid) {
    while (my $c = $listen->accept) {
        my ($head, $auth) = ('', '');
        while (my $line = <$c>) {
            $head .= $line;
            $auth = $1 if $line =~ /^Authorization:\s*(.*?)\r?$/i;
            last if $line =~ /^\r?\n$/;
        }
        my $body = qq({"errorMessages":["Bad request, you sent $auth"]});
        print $c "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json"
            . "\r\nContent-Length: " . length($body)
            . "\r\nConnection: close\r\n\r\n$body";
        close $c;
    }
    exit 0;
}
close $listen;

my $password = 'echo-secret-' . unpack('H*', pack('N', rand 2**32));
my $it = create_integration($admin, baseUrl => "http://127.0.0.1:$port",
    options => { projectKey => 'OPS' },
    auth => { type => 'basic', credentials => { username => 'echo-user',
                                                password => $password } });
my $basic = encode_base64("echo-user:$password", '');
$res = api(GET => "integration/$it->{_id}/tickets/OPS-1", token => $admin);
kill 'TERM', $pid;
waitpid $pid, 0;
ok t_cmp($res->{status}, 400, 'echoing service error is 400');
ok t_cmp(index($res->{body}, $basic) < 0 ? 1 : 0, 1,
         'Basic credential is not echoed');
ok t_cmp(index($res->{body}, '[redacted]') >= 0 ? 1 : 0, 1,
         'Basic credential is masked');

# --- Zendesk search terms cannot be injected through the assignee ---------
my $mock = ItsmMock->start(workers => 2);
my $creds = $mock->credentials;
my $zd = create_integration($admin, type => 'zendesk', baseUrl => $mock->url,
    auth => { type => 'token', credentials => {
        email => $creds->{email}, apiToken => $creds->{api_token} } });
$mock->clear_requests;
$res = api(GET => "integration/$zd->{_id}/tickets?assignedTo="
           . '1%22%20type%3Auser%20role%3Aadmin%20%22', token => $admin);
ok t_cmp($res->{status}, 400, 'quoted assignee is 400');
ok t_cmp(scalar(grep { $_->{path} =~ /search/ } $mock->requests), 0,
         'quoted assignee sends no search');

# --- a filter that is not UTF-8 is refused, not dropped --------------------
$res = api(GET => "integration/$zd->{_id}/tickets?assignedTo=%ff%fe",
           token => $admin);
ok t_cmp($res->{status}, 400, 'non-UTF-8 filter is 400');
ok t_cmp($res->{json}{message}, qr/^assignedTo must be UTF-8/,
         'non-UTF-8 filter message');

# --- a CA certificate can be removed again --------------------------------
my $pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
$res = api(PUT => "integration/$zd->{_id}", token => $admin,
           json => { config => { caCertificate => $pem } });
ok t_cmp($res->{json}{data}{config}{caCertificate}, $pem, 'CA is set');
$res = api(PUT => "integration/$zd->{_id}", token => $admin,
           json => { config => { caCertificate => undef } });
ok t_cmp(exists $res->{json}{data}{config}{caCertificate} ? 1 : 0, 0,
         'null removes the CA');

# --- integration names are limited in characters, not bytes ---------------
my $long = "\x{e9}" x 200;
$res = api(POST => 'integration', token => $admin,
           json => integration_body(name => $long));
ok t_cmp($res->{status}, 201, '200 accented characters are a valid name');
$res = api(POST => 'integration', token => $admin,
           json => integration_body(name => $long . "\x{e9}"));
ok t_cmp($res->{status}, 400, '201 characters are too long');
