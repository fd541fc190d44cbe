# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The requestId of an audit row is the UNIQUE_ID that mod_unique_id gives
# the request. A server of its own loads mod_unique_id and sends the id
# back in X-Request-Id (mod_headers), so the test can match rows to
# requests. Without the module the id is null; t/audit/actions.t checks
# that on the main server.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmServer;
use ItsmLists;

plan tests => 9;

my $server = ItsmServer->start(directives => [
    'LoadModule unique_id_module ' . module_file('mod_unique_id.so'),
    'LoadModule headers_module ' . module_file('mod_headers.so'),
    'Header always set X-Request-Id "%{UNIQUE_ID}e"',
    'ITSMHealthCheckInterval 0',
]);
my $admin = $server->login_admin;

my $res = $server->api(POST => 'users', token => $admin,
                       json => { firstName => 'Request', lastName => 'Id',
                                 email => "request-id-$$\@example.com",
                                 password => 'request-id-password' });
ok t_cmp($res->{status}, 201, 'user created');
my $sent = $res->{headers}->header('X-Request-Id') // '';
ok t_cmp($sent, qr/^[A-Za-z0-9@\-_]{20,}$/, 'the response carries UNIQUE_ID');

my ($row) = audit_rows($server, action => 'user.create',
                       target => $res->{json}{data}{_id});
ok t_cmp($row->{requestId}, $sent, 'requestId is the request UNIQUE_ID');

# Another request gets another id.
$res = $server->api(PUT => "users/$res->{json}{data}{_id}", token => $admin,
                    json => { lastName => 'Again' });
my $second = $res->{headers}->header('X-Request-Id') // '';
($row) = audit_rows($server, action => 'user.update');
ok t_cmp($row->{requestId}, $second, 'the update row has its own request id');
ok t_cmp($second ne $sent, 1, 'two requests, two ids');

# Failed logins carry the id too, so an attack can be traced in the logs.
$res = $server->api(POST => 'auth/login',
                    json => { email => 'nobody@example.com',
                              password => 'wrong-password' });
ok t_cmp($res->{status}, 401, 'failed login');
($row) = audit_rows($server, action => 'auth.login');
ok t_cmp($row->{requestId}, $res->{headers}->header('X-Request-Id'),
         'the failed login row has the request id');
ok t_cmp($row->{outcome}, 'failure', 'that row is the failure');

my @rows = audit_rows($server);
ok t_cmp(scalar(grep { !defined $_->{requestId} } @rows), 0,
         'every row of this server has a request id');
