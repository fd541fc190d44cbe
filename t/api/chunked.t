# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Request bodies sent with Transfer-Encoding: chunked over HTTP/1.1, which
# carry no Content-Length: login and user creation accept them, and the
# body limit still applies while the chunks arrive.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 47;

my $admin = admin_token();

# Splits $text into pieces of $size bytes.
sub pieces {
    my ($text, $size) = @_;
    return [ unpack "(a$size)*", $text ];
}

# Login with a chunked body.
my $login = json_encode({ email => 'admin@example.com',
                          password => admin_password() });
my $res = chunked_request(POST => 'auth/login', chunks => pieces($login, 5));
ok t_cmp($res->{status}, 200, 'chunked login is 200');
ok t_cmp($res->{type}, qr{^application/json}, 'chunked login is JSON');
ok t_cmp(defined $res->{json}{token}, 1, 'chunked login returns a token');
ok t_cmp($res->{json}{user}{email}, 'admin@example.com',
         'chunked login returns the user');

$res = chunked_request(POST => 'auth/login', chunks => [ $login ]);
ok t_cmp($res->{status}, 200, 'single-chunk login is 200');

$res = chunked_request(POST => 'auth/login',
                       chunks => pieces(json_encode(
                           { email => unique_email('chunked-unknown'),
                             password => 'wrong-password-1' }), 7));
ok t_cmp($res->{status}, 401, 'chunked unknown e-mail is 401');

# User creation with a chunked body, then a login as that user.
my $email = unique_email('chunked');
my $create = json_encode({ firstName => 'Chunk', lastName => 'Ed',
                           email => $email, password => 'chunked-pw-123',
                           role => 'user' });
$res = chunked_request(POST => 'users', token => $admin,
                       chunks => pieces($create, 16));
ok t_cmp($res->{status}, 201, 'chunked create is 201');
ok t_cmp($res->{json}{message}, 'User created successfully',
         'chunked create message');
ok t_cmp($res->{json}{data}{email}, $email, 'chunked create email');
my $id = $res->{json}{data}{_id};
ok t_cmp(defined login($email, 'chunked-pw-123'), 1,
         'chunk-created user logs in');

# Update and password change accept chunks too.
my $token = login($email, 'chunked-pw-123');
$res = chunked_request(PUT => "users/$id", token => $token,
                       chunks => pieces('{"firstName":"Rechunked"}', 4));
ok t_cmp($res->{status}, 200, 'chunked update is 200');
ok t_cmp($res->{json}{data}{firstName}, 'Rechunked',
         'chunked update is applied');
$res = chunked_request(PUT => "users/$id/password", token => $token,
                       chunks => pieces(json_encode(
                           { currentPassword => 'chunked-pw-123',
                             newPassword => 'chunked-pw-456' }), 9));
ok t_cmp($res->{status}, 200, 'chunked password change is 200');
ok t_cmp(defined login($email, 'chunked-pw-456'), 1,
         'chunked password change is applied');

# A chunked body with a trailer field.
$res = chunked_request(POST => 'auth/login', chunks => pieces($login, 10),
                       trailer => "X-Trailer: ignored\r\n");
ok t_cmp($res->{status}, 200, 'chunked body with trailer is 200');

# Bad bodies in chunks get the same responses as with a length.
$res = chunked_request(POST => 'auth/login', chunks => [ '{"email":', '' ]);
ok t_cmp($res->{status}, 400, 'chunked truncated JSON is 400');
ok t_cmp($res->{json}{success}, JSON::PP::false,
         'chunked truncated JSON is the envelope');
$res = chunked_request(POST => 'auth/login', chunks => []);
ok t_cmp($res->{status}, 400, 'empty chunked body is 400');
$res = chunked_request(POST => 'auth/login', type => 'text/plain',
                       chunks => pieces($login, 8));
ok t_cmp($res->{status}, 415, 'chunked text/plain is 415');

# The limit without a Content-Length: 64 KiB on /api, 1024 on /api-small.
my $big = json_encode({ email => 'nobody@example.com',
                        password => 'p' x 70000 });
$res = chunked_request(POST => 'auth/login', chunks => pieces($big, 4096));
ok t_cmp($res->{status}, 413, 'chunked body over 64 KiB is 413');
ok t_cmp($res->{type}, qr{^application/json}, 'chunked 413 is JSON');
ok t_cmp($res->{json}{success}, JSON::PP::false, 'chunked 413 envelope');
ok t_cmp($res->{json}{message}, qr/65536/, 'chunked 413 gives the limit');

$res = chunked_request(POST => 'auth/login', chunks => [ $big ]);
ok t_cmp($res->{status}, 413, 'one chunk over 64 KiB is 413');

$res = chunked_request(POST => 'users', token => $admin,
                       chunks => pieces($big, 8192));
ok t_cmp($res->{status}, 413, 'chunked big create is 413');

# Within the limit the body is read, and then rejected for the long name.
my $fits = json_encode({ firstName => 'f' x 900, lastName => 'L',
                         email => unique_email('chunked'),
                         password => 'chunked-pw-123' });
$res = chunked_request(POST => '/api-small/users', token => $admin,
                       chunks => pieces($fits, 100));
ok t_cmp($res->{status}, 400, 'small location reads 1000 chunked bytes');
ok t_cmp($res->{json}{message} // '', qr/firstName/,
         'small location parses the chunked body');
my $over = json_encode({ email => 'nobody@example.com',
                         password => 'p' x 1100 });
$res = chunked_request(POST => '/api-small/auth/login',
                       chunks => pieces($over, 100));
ok t_cmp($res->{status}, 413, 'small location chunked overflow is 413');
ok t_cmp($res->{json}{message}, qr/1024/, 'small chunked 413 gives 1024');
ok t_cmp($res->{type}, qr{^application/json}, 'small chunked 413 is JSON');

# Malformed chunked framing is a JSON 400, not an HTML page.
my $frame = "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    . "Connection: close\r\nContent-Type: application/json\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n";

# httpd rejects a chunk size that overflows with 413.
for my $case ([ 'bad chunk size', "zz\r\n{}\r\n0\r\n\r\n", qr/^400$/ ],
              [ 'short chunk', "10\r\n{}\r\n0\r\n\r\n", qr/^400$/ ],
              [ 'negative chunk size', "-5\r\n{}\r\n0\r\n\r\n",
                qr/^400$/ ],
              [ 'huge chunk size',
                "fffffffffffffffffff\r\n{}\r\n0\r\n\r\n", qr/^(400|413)$/ ]) {
    my ($name, $body, $status) = @$case;
    $res = raw_request($frame . $body);
    ok t_cmp($res->{status}, $status, "$name status");
    ok t_cmp($res->{type}, qr{^application/json}, "$name is JSON");
    ok t_cmp($res->{json}{success}, JSON::PP::false, "$name envelope");
    ok t_cmp(scalar($res->{body} =~ /<html/i), '', "$name has no HTML");
}

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
