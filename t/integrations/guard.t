# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The outbound address guard. The virtual host itsm_guarded has
# ITSMAllowPrivateTargets Off, so its health checks must not reach the
# mock on 127.0.0.1, by address or by a name that resolves there, while
# the main server (On) still reaches it.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMock;

plan tests => 31;

my $admin = admin_token();
my $password = 'guard-' . unpack('H*', pack('N2', rand 2**32, rand 2**32));
my $mock = ItsmMock->start(username => 'guard-user', password => $password,
                           client_id => 'guard-client',
                           client_secret => $password, workers => 2);
my $hint = quotemeta('private, loopback or link-local address '
                     . '(set ITSMAllowPrivateTargets On to allow)');
my $blocked = qr/ refused: $hint$/;
my @bodies;

sub call {
    my $res = api(@_);
    push @bodies, $res->{body};
    return $res;
}

sub guarded_check {
    my ($id) = @_;
    return on_vhost('itsm_guarded', sub {
        call(POST => "integration/$id/check-health", token => $admin);
    });
}

my $auth = { type => 'basic', credentials => {
    username => 'guard-user', password => $password } };

# By address.
my $id = create_integration($admin, baseUrl => $mock->url, auth => $auth)
    ->{_id};
$mock->clear_requests;
my $res = guarded_check($id);
ok t_cmp($res->{status}, 200, 'guarded check is 200');
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'guarded status');
ok t_cmp($res->{json}{data}{message}, qr/^connection to 127\.0\.0\.1$blocked/,
         'guarded message');
ok t_cmp($res->{json}{data}{httpStatus}, undef, 'guarded has no httpStatus');
ok t_cmp(scalar($mock->requests), 0, 'guarded check sent nothing');
$res = call(GET => "integration/$id", token => $admin);
ok t_cmp($res->{json}{data}{health}{status}, 'unhealthy',
         'guarded status is stored');
ok t_cmp($res->{json}{data}{health}{message}, $blocked,
         'guarded message is stored');

# The main server allows private targets, and the mock answers it.
$res = call(POST => "integration/$id/check-health", token => $admin);
ok t_cmp($res->{json}{data}{status}, 'healthy', 'main server reaches it');
ok t_cmp(scalar($mock->requests) >= 1, 1, 'main server check arrived');

# By a name that resolves to loopback: the guard checks the address that
# the connection would use, not the text of the URL.
my $port = $mock->port;
my $by_name = create_integration($admin, auth => $auth,
                                 baseUrl => "http://localhost:$port")->{_id};
$mock->clear_requests;
$res = guarded_check($by_name);
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'localhost status');
ok t_cmp($res->{json}{data}{message}, $blocked, 'localhost message');
ok t_cmp(scalar($mock->requests), 0, 'localhost check sent nothing');

# IPv6 loopback and IPv4-mapped IPv6 loopback.
for my $host ('[::1]', '[::ffff:127.0.0.1]') {
    my $v6 = create_integration($admin, auth => $auth,
                                baseUrl => "http://$host:$port")->{_id};
    $res = guarded_check($v6);
    ok t_cmp($res->{json}{data}{status}, 'unhealthy', "$host status");
    ok t_cmp($res->{json}{data}{message}, qr/^connection to \S+$blocked/,
             "$host message");
}
ok t_cmp(scalar($mock->requests), 0, 'IPv6 checks sent nothing');

# An OAuth token endpoint on a private address is guarded too.
my $oauth = create_integration($admin, type => 'custom',
    baseUrl => $mock->url,
    options => { healthPath => '/secure/health',
                 tokenUrl => $mock->url('/oauth/token') },
    auth => { type => 'oauth', credentials => {
        clientId => 'guard-client', clientSecret => $password } })->{_id};
$mock->clear_requests;
$res = guarded_check($oauth);
ok t_cmp($res->{json}{data}{status}, 'unhealthy', 'oauth status');
ok t_cmp($res->{json}{data}{message},
         qr/^OAuth token request failed: connection to 127\.0\.0\.1$blocked/,
         'oauth message');
ok t_cmp(scalar($mock->requests), 0, 'oauth check sent nothing');

# The guarded host serves the rest of the API as usual.
$res = on_vhost('itsm_guarded', sub {
    call(GET => "integration/$id", token => $admin);
});
ok t_cmp($res->{status}, 200, 'guarded host reads');
ok t_cmp($res->{json}{data}{_id}, $id, 'guarded host reads the same row');
$res = on_vhost('itsm_guarded', sub {
    call(POST => 'integration', token => $admin,
         json => integration_body(baseUrl => $mock->url));
});
ok t_cmp($res->{status}, 201, 'guarded host creates');
$res = on_vhost('itsm_guarded', sub {
    call(POST => "integration/$id/check-health");
});
ok t_cmp($res->{status}, 401, 'guarded host needs a token');

# The guard also holds for a check by a manager.
my $manager = new_user(role => 'user');
call(PUT => "integration/$id", token => $admin,
     json => { managers => [ $manager->{id} ] });
$mock->clear_requests;
$res = on_vhost('itsm_guarded', sub {
    call(POST => "integration/$id/check-health", token => $manager->{token});
});
ok t_cmp($res->{status}, 200, 'manager check is 200');
ok t_cmp($res->{json}{data}{message}, $blocked, 'manager check is guarded');
ok t_cmp(scalar($mock->requests), 0, 'manager check sent nothing');

# Requests from the test reach the main server again afterwards.
$res = call(GET => "integration/$id", token => $admin);
ok t_cmp($res->{status}, 200, 'main server answers again');
my $main_port = Apache::Test::vars()->{port};
ok t_cmp(Apache::TestRequest::resolve_url('/api'),
         qr{:$main_port/api$}, 'requests go to the main port');

my @secrets = ($password, http_basic('guard-user', $password));
ok t_cmp(scalar(grep { count_secrets($_, @secrets) } @bodies), 0,
         'no response contains a secret');
ok t_cmp(count_secrets(error_log_text(), @secrets), 0,
         'error log contains no secret');
