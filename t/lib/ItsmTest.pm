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

our @EXPORT = qw(api api_raw json_encode admin_token admin_password login
                 new_user sign_token token_claims var_dir unique_email);

my $json = JSON::PP->new->canonical->allow_nonref;
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
# type => Content-Type, headers => { extra headers }.
sub api {
    my ($method, $path, %opt) = @_;
    my $url = $path =~ m{^/} ? $path : "/api/$path";
    my $req = HTTP::Request->new($method => $url);
    $req->header(Authorization => "Bearer $opt{token}")
        if defined $opt{token};
    my $body = exists $opt{json} ? $json->encode($opt{json}) : $opt{body};
    if (defined $body) {
        $req->header('Content-Type' => $opt{type} // 'application/json');
        $req->content($body);
    }
    $req->header(%{ $opt{headers} }) if $opt{headers};
    return api_result(send_request($req));
}

sub api_result {
    my ($res) = @_;
    my $decoded = eval { $json->decode($res->content) };
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

use HTTP::Request ();
use LWP::UserAgent ();

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

my $admin_token;
sub admin_token {
    $admin_token //= login('admin@example.com', admin_password());
    die "admin login failed" unless $admin_token;
    return $admin_token;
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
# so tests can build expired, foreign or malformed tokens.
sub sign_token {
    my ($claims, %opt) = @_;
    my $header = $opt{header} // { alg => 'HS256', typ => 'JWT' };
    my $key = $opt{key} // read_file(var_dir() . '/token-secret');
    my $signing_input = encode_base64url($json->encode($header)) . '.'
        . encode_base64url($json->encode($claims));
    return $signing_input . '.'
        . encode_base64url(hmac_sha256($signing_input, $key));
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
