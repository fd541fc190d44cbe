# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Errors under /api: every one is the JSON envelope {"success":false,
# "message":...}, never an HTML page and never a 500 for bad input. Covers
# unknown routes (404), other methods (405 with Allow), malformed bodies
# (400), other media types (415) and bodies over the limit (413) when the
# length is declared; chunked.t covers chunked bodies.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 280;

my $admin = admin_token();
my $user = new_user(role => 'user');

# Checks that $res is the error envelope with $status. Five assertions.
sub is_error {
    my ($res, $status, $name) = @_;
    ok t_cmp($res->{status}, $status, "$name is $status");
    ok t_cmp($res->{type}, qr{^application/json\b}, "$name is JSON");
    ok t_cmp($res->{json}{success}, JSON::PP::false, "$name success false");
    ok t_cmp(defined $res->{json}{message} && !ref $res->{json}{message}
             && length $res->{json}{message} > 0, 1, "$name has a message");
    ok t_cmp(scalar($res->{body} =~ /<html|<!DOCTYPE/i), '',
             "$name has no HTML");
}

# The envelope has exactly the spec's two members.
my $res = api(GET => 'nope');
ok t_cmp(join(',', sort keys %{ $res->{json} // {} }), 'message,success',
         'error envelope members');

# 404: unknown routes, with or without a token.
is_error(api(GET => 'nope'), 404, 'unknown route');
ok t_cmp(api(GET => 'nope')->{json}{message}, 'Resource not found',
         'unknown route message');
is_error(api(GET => '/api'), 404, 'API root');
is_error(api(GET => '/api/'), 404, 'API root with slash');
is_error(api(GET => 'auth'), 404, 'auth without action');
is_error(api(GET => 'healthz'), 404, 'near-miss route');
is_error(api(GET => 'users/x/y', token => $admin), 404, 'deep users path');
is_error(api(GET => 'users/' . ('0' x 24) . '/password/x', token => $admin),
         404, 'four-segment users path');
is_error(api(GET => join('/', ('a') x 12)), 404, 'twelve-segment path');
is_error(api(POST => 'nope', json => {}), 404, 'POST to unknown route');
is_error(api(GET => 'Users', token => $admin), 404, 'route with capital');

# 405 with Allow: a known path with another method.
for my $case ([ DELETE => 'auth/login', qr/^POST$/ ],
              [ PUT => 'health', qr/^GET$/ ],
              [ PATCH => 'users', qr/^(?=.*\bGET\b)(?=.*\bPOST\b)/ ],
              [ POST => 'users/profile/me', qr/\bGET\b/ ],
              [ POST => "users/$user->{id}",
                qr/^(?=.*\bGET\b)(?=.*\bPUT\b)(?=.*\bDELETE\b)/ ],
              [ GET => "users/$user->{id}/password", qr/^PUT$/ ]) {
    my ($method, $path, $allow) = @$case;
    $res = api($method => $path, token => $admin,
               ($method =~ /^(POST|PUT|PATCH)$/ ? (json => {}) : ()));
    is_error($res, 405, "$method $path");
    ok t_cmp($res->{headers}->header('Allow') // '', $allow,
             "$method $path Allow header");
}
$res = api(PUT => 'health');
ok t_cmp($res->{status}, 405, '405 comes before authentication');

# 401 comes before the body is read: a bad body without a token is 401.
$res = api(PUT => "users/$user->{id}", body => '{not json');
is_error($res, 401, 'bad body without token');
ok t_cmp(defined $res->{headers}->header('WWW-Authenticate'), 1,
         '401 has WWW-Authenticate');
$res = api(PUT => "users/$user->{id}", body => 'x' x 70000);
ok t_cmp($res->{status}, 401, 'big body without token is 401');

# 403 is the envelope too.
is_error(api(GET => 'users', token => $user->{token}), 403,
         'user listing users');

# 400: bodies that are not one JSON object.
my @bad_bodies = (
    [ 'truncated object',  '{' ],
    [ 'trailing comma',    '{"email":"a@example.com",}' ],
    [ 'bare word',         'not json' ],
    [ 'single quotes',     q({'email':'a@example.com'}) ],
    [ 'array',             '[]' ],
    [ 'array of object',   '[{"email":"a@example.com"}]' ],
    [ 'string',            '"text"' ],
    [ 'number',            '42' ],
    [ 'null',              'null' ],
    [ 'true',              'true' ],
    [ 'empty body',        '' ],
    [ 'whitespace body',   "  \n " ],
    [ 'duplicate keys',    '{"email":"a@example.com","email":"b@example.com",'
                           . '"password":"long-enough-1"}' ],
    [ 'deep nesting',      ('{"a":' x 40) . '1' . ('}' x 40) ],
    [ 'invalid UTF-8',     qq({"email":"\xff\xfe\@example.com"}) ],
    [ 'NUL escape',        '{"email":"a\u0000@example.com","password":"x"}' ],
    [ 'trailing garbage',  '{"email":"a@example.com"} x' ],
    [ 'two objects',       '{}{}' ],
    [ 'lone surrogate',    '{"email":"\ud800@example.com"}' ],
);
for my $case (@bad_bodies) {
    my ($name, $body) = @$case;
    is_error(api(POST => 'auth/login', body => $body), 400, $name);
}
$res = api(POST => 'auth/login', body => '[]');
ok t_cmp($res->{json}{message}, qr/object/, 'array body message names object');
$res = api(POST => 'users', token => $admin, body => '{"firstName":');
is_error($res, 400, 'truncated body on create');

# 415: a body that is not application/json.
for my $type ('text/plain', 'application/x-www-form-urlencoded',
              'application/jsonx', 'text/json', 'multipart/form-data',
              'application/json-patch+json') {
    $res = api(POST => 'auth/login', type => $type,
               body => '{"email":"a@example.com","password":"long-enough"}');
    is_error($res, 415, "type $type");
}
$res = api(POST => 'auth/login', type => undef,
           body => '{"email":"a@example.com","password":"long-enough"}');
is_error($res, 415, 'no Content-Type');
$res = api(PUT => "users/$user->{id}", token => $user->{token},
           type => 'text/plain', body => '{"firstName":"Plain"}');
is_error($res, 415, 'text/plain update');
my $login = json_encode({ email => 'admin@example.com',
                          password => admin_password() });
for my $type ('application/json; charset=utf-8', 'APPLICATION/JSON',
              'application/json;charset=UTF-8') {
    $res = api(POST => 'auth/login', type => $type, body => $login);
    ok t_cmp($res->{status}, 200, "type '$type' is accepted");
}

# 413 with a declared length: 64 KiB on /api, 1024 bytes on /api-small.
# A user creation body of exactly $size bytes, padded in firstName: a body
# within the limit is read and then rejected for the long name (400).
sub create_body {
    my ($size) = @_;
    my $body = json_encode({ firstName => '', lastName => 'L',
                             email => unique_email('size'),
                             password => 'long-enough-pw', role => 'user' });
    $body =~ s/"firstName":""/'"firstName":"' . ('f' x ($size - length $body))
                                . '"'/e;
    return $body;
}
$res = api(POST => 'users', token => $admin, body => create_body(65536));
ok t_cmp(length create_body(65536), 65536, 'padded body has 65536 bytes');
ok t_cmp($res->{status}, 400, 'body of 65536 bytes is read');
ok t_cmp($res->{json}{message} // '', qr/firstName/,
         'body of 65536 bytes is parsed');
$res = api(POST => 'users', token => $admin, body => create_body(65537));
is_error($res, 413, 'body of 65537 bytes');
ok t_cmp($res->{json}{message}, qr/65536/, '413 message gives the limit');
is_error(api(POST => 'auth/login', body => 'x' x (1 << 20)), 413,
         'body of 1 MiB');
$res = api(POST => '/api-small/users', token => $admin,
           body => create_body(1024));
ok t_cmp($res->{status}, 400, 'small location reads 1024 bytes');
$res = api(POST => '/api-small/users', token => $admin,
           body => create_body(1025));
is_error($res, 413, 'small location body of 1025 bytes');
ok t_cmp($res->{json}{message}, qr/1024/, 'small 413 message gives 1024');
$res = api(POST => 'auth/login', body => 'x' x 70000);
is_error($res, 413, 'big body on login');

# The other location serves the same routes.
$res = api(GET => '/api-small/health');
ok t_cmp($res->{status}, 200, 'small location serves health');
is_error(api(GET => '/api-small/nope'), 404, 'small location unknown route');

# Never a 500 for bad input to create: wrong types for every field.
my @values = (undef, JSON::PP::true, 0, -1, 1e300, '', ' ', [], {},
              ['a'], { a => 'b' }, "\x{263a}");
my $fivehundreds = 0;
my $not400 = 0;
for my $field (qw(firstName lastName email password role isActive)) {
    for my $value (@values) {
        my %body = (firstName => 'F', lastName => 'L',
                    email => unique_email('types'),
                    password => 'long-enough-pw', role => 'user');
        $body{$field} = $value;
        my $r = api(POST => 'users', token => $admin, json => \%body);
        $fivehundreds++ if $r->{status} >= 500;
        # Some values are valid for some fields (a name of one character).
        $not400++ unless $r->{status} == 400 || $r->{status} == 201;
    }
}
ok t_cmp($fivehundreds, 0, 'no 500 for wrong field types');
ok t_cmp($not400, 0, 'wrong field types are 400 or valid');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
