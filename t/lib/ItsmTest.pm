# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Helpers for the mod_itsm Apache::Test suite: JSON requests against /api,
# logins, throwaway users, and tokens signed with the test secret for the
# forged-token tests. Nothing here prints a secret.

package ItsmTest;

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);
use Digest::SHA qw(hmac_sha256);
use Apache::Test ();
use Apache::TestRequest ();
use Apache::TestConfig ();
use File::Basename qw(dirname);

our @EXPORT = qw(api json_encode admin_token admin_password login
                 new_user sign_token token_claims var_dir unique_email
                 raw_request chunked_request has_text leaked_responses
                 all_users);

# UTF-8 bytes in and out, as they travel over HTTP.
my $json = JSON::PP->new->utf8->canonical->allow_nonref;
my $counter = 0;

sub json_encode { $json->encode($_[0]) }

sub var_dir {
    my $vars = Apache::Test::vars();
    return "$vars->{t_dir}/var";
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or die "cannot read $path: $!";
    binmode $fh;
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}

# Sends a request and returns { status, json, headers, body }. Options:
# token => bearer credentials, json => Perl data to send, body => raw body,
# type => Content-Type (undef sends none; default application/json),
# headers => { extra headers }.
sub api {
    my ($method, $path, %opt) = @_;
    my $url = $path =~ m{^/} ? $path : "/api/$path";
    my $req = HTTP::Request->new($method => $url);
    $req->header(Authorization => "Bearer $opt{token}")
        if defined $opt{token};
    my $body = exists $opt{json} ? $json->encode($opt{json}) : $opt{body};
    if (defined $body) {
        my $type = exists $opt{type} ? $opt{type} : 'application/json';
        $req->header('Content-Type' => $type) if defined $type;
        $req->content($body);
    }
    $req->header(%{ $opt{headers} }) if $opt{headers};
    note_passwords($opt{json});
    return api_result(send_request($req));
}

# Every password this process has sent in a JSON body (members whose name
# contains "password", 8 characters or longer), and the number of
# responses that contained one of them or an argon2 hash.
my %passwords;
my $leaks = 0;

sub note_passwords {
    my ($data) = @_;
    return unless ref $data eq 'HASH';
    for my $key (keys %$data) {
        my $value = $data->{$key};
        $passwords{$value} = 1
            if $key =~ /password/i && defined $value && !ref $value
               && length $value >= 8;
    }
}

# Returns how many responses so far contained a password sent by this
# process or an argon2 hash; a test file checks it once at its end.
sub leaked_responses { $leaks }

sub api_result {
    my ($res) = @_;
    my $content = $res->content;
    $leaks++ if index($content, '$argon2') >= 0
                || grep { index($content, $_) >= 0 } keys %passwords;
    my $decoded = eval { $json->decode($content) };
    return {
        status  => $res->code,
        json    => $decoded,
        headers => $res->headers,
        body    => $res->content,
        type    => scalar $res->header('Content-Type') // '',
    };
}

my $ua;

# Sends an HTTP::Request to the test server. Redirects are not followed,
# so tests see exactly what the module answered.
sub send_request {
    my ($req) = @_;
    $ua //= LWP::UserAgent->new(max_redirect => 0, timeout => 120);
    $req->uri(Apache::TestRequest::resolve_url($req->uri->as_string));
    return $ua->request($req);
}

use HTTP::Headers ();
use URI::Escape ();
use HTTP::Request ();
use HTTP::Response ();
use IO::Socket::INET ();
use LWP::UserAgent ();

# Returns 1 when $text contains $part, else 0: a value that t_cmp may print
# on failure when $part is a password or a token.
sub has_text {
    my ($text, $part) = @_;
    return index($text // '', $part) >= 0 ? 1 : 0;
}

sub admin_password {
    my $pw = read_file(var_dir() . '/admin-password');
    $pw =~ s/\s+\z//;
    return $pw;
}

sub login {
    my ($email, $password) = @_;
    my $res = api(POST => 'auth/login',
                  json => { email => $email, password => $password });
    return $res->{status} == 200 ? $res->{json}{token} : undef;
}

# Returns a token of the bootstrap admin, from one login per process. A
# true $refresh logs in again, after a test has ended the cached token.
my $admin_token;
sub admin_token {
    my ($refresh) = @_;
    undef $admin_token if $refresh;
    $admin_token //= login('admin@example.com', admin_password());
    die "admin login failed" unless $admin_token;
    return $admin_token;
}

# Returns every user as GET /api/users shows them to $token (default: the
# bootstrap admin), following nextCursor from page to page.
sub all_users {
    my ($token) = @_;
    $token //= admin_token();
    my (@users, $cursor);
    for (;;) {
        my $query = 'limit=1000';
        $query .= '&cursor=' . URI::Escape::uri_escape($cursor)
            if defined $cursor;
        my $res = api(GET => "users?$query", token => $token);
        die "listing users failed: HTTP $res->{status}"
            unless $res->{status} == 200;
        push @users, @{ $res->{json}{data} // [] };
        $cursor = $res->{json}{nextCursor};
        last unless defined $cursor;
    }
    return @users;
}

sub unique_email {
    my ($tag) = @_;
    $counter++;
    return sprintf '%s-%d-%d-%d@example.com', $tag // 'user', $$, time,
        $counter;
}

# Creates a user through the API and logs in as it. Returns a hashref with
# id, email, password, role and token.
sub new_user {
    my (%opt) = @_;
    my $role = $opt{role} // 'user';
    my $email = unique_email($role);
    my $password = 'pw-' . unpack('H*', pack('N', rand(2**32))) . '-long';
    my $res = api(POST => 'users', token => admin_token(),
                  json => { firstName => 'Test', lastName => ucfirst $role,
                            email => $email, password => $password,
                            role => $role });
    die "creating a $role failed: HTTP $res->{status}"
        unless $res->{status} == 201;
    my $user = { id => $res->{json}{data}{_id}, email => $email,
                 password => $password, role => $role };
    $user->{token} = login($email, $password);
    return $user;
}

# Signs a token with the test server's secret. Claims are taken as given,
# so tests can build expired, foreign or malformed tokens. Options: header
# => the JOSE header, key => another signing key, payload => the claims as
# raw JSON text (for duplicate members), used in place of $claims.
sub sign_token {
    my ($claims, %opt) = @_;
    my $header = $opt{header} // { alg => 'HS256', typ => 'JWT' };
    my $key = $opt{key} // read_file(var_dir() . '/token-secret');
    my $payload = $opt{payload} // $json->encode($claims);
    my $signing_input = encode_base64url($json->encode($header)) . '.'
        . encode_base64url($payload);
    return $signing_input . '.'
        . encode_base64url(hmac_sha256($signing_input, $key));
}

# The result of raw_request when no HTTP response arrived: status 0 and
# the reason in error.
sub no_response {
    my ($error) = @_;
    return { status => 0, error => $error, json => undef, body => '',
             type => '', headers => HTTP::Headers->new };
}

# Sends the raw request text on a new connection to the test server and
# reads the response until the server closes it. Returns the same hashref
# as api(), with headers as an HTTP::Headers object, or no_response().
sub raw_request {
    my ($text) = @_;
    my $vars = Apache::Test::vars();
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $vars->{port},
                                     Proto => 'tcp', Timeout => 30)
        or return no_response("connect failed: $!");
    binmode $sock;
    # The server may respond and close before it has read the whole body
    # (413), so a failed write is not an error here.
    local $SIG{PIPE} = 'IGNORE';
    print {$sock} $text;
    shutdown $sock, 1;
    my $raw = '';
    while (1) {
        my $n = sysread $sock, my $buf, 65536;
        last unless $n;
        $raw .= $buf;
    }
    close $sock;
    my $res = HTTP::Response->parse($raw);
    return no_response('no HTTP response')
        unless $raw =~ m{^HTTP/1\.[01] \d{3}};
    # HTTP::Response->parse leaves a chunked body encoded.
    if (lc($res->header('Transfer-Encoding') // '') eq 'chunked') {
        my $body = $res->content;
        my $decoded = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $size = hex $1;
            last if $size == 0;
            $decoded .= substr($body, 0, $size, '');
            $body =~ s/^\r\n//;
        }
        $res->content($decoded);
    }
    return api_result($res);
}

# Sends a request whose body goes as the given chunks with
# Transfer-Encoding: chunked over HTTP/1.1. Options: token, type (default
# application/json), chunks => [ strings ], trailer => raw text placed
# before the final CRLF.
sub chunked_request {
    my ($method, $path, %opt) = @_;
    my $url = $path =~ m{^/} ? $path : "/api/$path";
    my $type = exists $opt{type} ? $opt{type} : 'application/json';
    my $text = "$method $url HTTP/1.1\r\n"
        . "Host: 127.0.0.1\r\n"
        . "Connection: close\r\n"
        . "Transfer-Encoding: chunked\r\n";
    $text .= "Content-Type: $type\r\n" if defined $type;
    $text .= "Authorization: Bearer $opt{token}\r\n" if defined $opt{token};
    $text .= "\r\n";
    for my $chunk (@{ $opt{chunks} }) {
        $text .= sprintf("%x\r\n", length $chunk) . $chunk . "\r\n";
    }
    $text .= "0\r\n" . ($opt{trailer} // '') . "\r\n";
    return raw_request($text);
}

# Decodes the claims of a token without verifying it.
sub token_claims {
    my ($token) = @_;
    my (undef, $payload) = split /\./, $token;
    $payload =~ tr{-_}{+/};
    $payload .= '=' x ((4 - length($payload) % 4) % 4);
    return $json->decode(MIME::Base64::decode_base64($payload));
}

1;
