# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Mock ITSM service for the mod_itsm tests: Jira, ServiceNow and Zendesk
# probe endpoints, an OAuth token endpoint and paths that misbehave on
# purpose, served on 127.0.0.1 over HTTP or HTTPS with a self-signed
# certificate.
#
#   my $mock = ItsmMock->start(tls => 1);
#   ... $mock->url('/rest/api/3/myself'), $mock->ca_file ...
#   $mock->set_mode('down');          # every request gets a 503
#   my @log = $mock->requests;        # what arrived, without secrets
#   $mock->stop;                      # also done by DESTROY and END
#
# Options of start (all optional): tls, port, username, password, email,
# api_token, bearer_token, api_key, api_key_header, client_id,
# client_secret, token_ttl (seconds, for issued OAuth tokens), workers.
#
# Each of the `workers` processes (default 16) serves one connection at a
# time, so up to that many slow requests run side by side; more wait in
# the listen queue.  Every response closes its connection.
#
# Endpoints (every method, unless noted):
#   /rest/api/3/myself        Jira: 200 user, or 401 with Jira's error JSON
#   /api/now/table/sys_user   ServiceNow: 200 {"result":[...]}, or 401
#   /api/v2/users/me.json     Zendesk: 200 user; id null when the
#                             credentials are wrong, as Zendesk does
#   /oauth/token, /oauth_token.do
#                             POST client_credentials grant; client id and
#                             secret by HTTP Basic or in the form body
#   /health                   200 JSON, no authentication
#   /secure/health            200 JSON with valid credentials, else 401
#   /slow?ms=N                200 JSON after N ms
#   /status/N?retry_after=S   status N with a JSON body (and Retry-After)
#   /redirect?to=URL          302 to URL (default: the Jira path)
#   /html                     200 text/html, like a hibernating instance
#   /text                     200 text/plain "OK"
#   /big?kib=N&chunked=1      200 JSON body of N KiB (default 200), with
#                             Content-Length or, with chunked=1, without
# Valid credentials: Basic username:password, email:api_token or
# "email/token":api_token; Bearer api_token, bearer_token or an issued
# access token; the API key in the api_key_header header.
#
# Modes (set_mode), read again for every request:
#   up             normal (the default)
#   down           503 for every path
#   unauthorized   401 for every path
#   hibernate      200 text/html for every path
#   slow, ms => N  wait N ms, then answer normally
#   close          close the connection without a response

package ItsmMock;

use strict;
use warnings;

use Fcntl qw(:flock);
use File::Temp qw(tempdir);
use HTTP::Daemon ();
use HTTP::Response ();
use HTTP::Status qw(status_message);
use IO::Socket::SSL ();
use JSON::PP ();
use MIME::Base64 qw(decode_base64);
use POSIX ();
use Time::HiRes ();
use URI ();
use URI::Escape qw(uri_unescape);

my $json = JSON::PP->new->canonical;

# Mocks started by this process, stopped by END if a test dies first.
my %running;

my %defaults = (
    tls            => 0,
    port           => 0,
    username       => 'mock-user',
    password       => 'mock-password',
    email          => 'agent@example.com',
    api_token      => 'mock-api-token',
    bearer_token   => 'mock-bearer-token',
    api_key        => 'mock-api-key',
    api_key_header => 'X-API-Key',
    client_id      => 'mock-client',
    client_secret  => 'mock-client-secret',
    token_ttl      => 3600,
    workers        => 16,
);

# Seconds a worker may spend on one connection; a stuck client cannot keep
# it, because the alarm ends the worker and the server starts another.
my $CONNECTION_LIFETIME = 60;

# Seconds to wait for the TLS handshake and for each read of a request.
my $READ_TIMEOUT = 20;

sub start {
    my ($class, %opts) = @_;
    my $self = bless { %defaults, %opts, owner => $$ }, $class;

    $self->{dir} = tempdir('itsm-mock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $self->{log_file}    = "$self->{dir}/requests.log";
    $self->{mode_file}   = "$self->{dir}/mode.json";
    $self->{tokens_file} = "$self->{dir}/tokens";
    _write_file($self->{log_file}, '');
    _write_file($self->{tokens_file}, '');
    $self->set_mode('up');
    $self->_make_certificate if $self->{tls};

    my $daemon = HTTP::Daemon->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $self->{port},
        ReuseAddr => 1,
        Listen    => 256,
        Timeout   => 0.2,
    ) or die "ItsmMock: cannot listen on 127.0.0.1: $!\n";
    $self->{port} = $daemon->sockport;

    my $pid = fork;
    die "ItsmMock: fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
        # Never return into the test script: END blocks and destructors
        # belong to the parent.
        eval { $self->_serve($daemon) };
        POSIX::_exit(0);
    }
    close $daemon;
    $self->{pid} = $pid;
    $running{"$self"} = $self;
    return $self;
}

sub port { $_[0]{port} }

sub url {
    my ($self, $path) = @_;
    my $scheme = $self->{tls} ? 'https' : 'http';
    return "$scheme://127.0.0.1:$self->{port}" . (defined $path ? $path : '');
}

# PEM file of the self-signed certificate, usable as a CA file.
sub ca_file { $_[0]{tls} ? "$_[0]{dir}/cert.pem" : undef }

sub credentials {
    my ($self) = @_;
    return { map { $_ => $self->{$_} } qw(username password email api_token
             bearer_token api_key api_key_header client_id client_secret) };
}

sub set_mode {
    my ($self, $mode, %args) = @_;
    my $tmp = "$self->{mode_file}.tmp";
    _write_file($tmp, $json->encode({ %args, mode => $mode }));
    rename $tmp, $self->{mode_file}
        or die "ItsmMock: cannot replace $self->{mode_file}: $!\n";
}

# Forget every issued OAuth token, as a server restart or revocation would.
sub revoke_tokens { _write_file($_[0]{tokens_file}, '') }

# One hash per request received: method, path, query, auth (none, basic,
# bearer, apikey, form or other), user (Basic user name or OAuth client
# id), authorized (0 or 1), tls.  Secrets are never recorded.
sub requests {
    my ($self) = @_;
    open my $fh, '<', $self->{log_file} or return ();
    flock $fh, LOCK_SH;
    my @entries = map { $json->decode($_) } grep { /\S/ } <$fh>;
    close $fh;
    return @entries;
}

sub clear_requests { _write_file($_[0]{log_file}, '') }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid};
    delete $running{"$self"};
    return unless $pid && $self->{owner} == $$;

    kill 'TERM', $pid;
    for (1 .. 50) {
        return if waitpid($pid, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.1);
    }
    # The server did not stop within 5 s: end it and its connections.
    kill 'KILL', -$pid, $pid;
    waitpid($pid, 0);
}

sub DESTROY { $_[0]->stop }

END { $_->stop for values %running }

# ---------------------------------------------------------------------------
# server process

sub _serve {
    my ($self, $daemon) = @_;
    my $stopping = 0;
    my %workers;

    # A process group of its own, so that stop can reach the workers.
    setpgrp(0, 0);
    local $SIG{TERM} = sub { $stopping = 1 };
    local $SIG{INT}  = sub { $stopping = 1 };
    local $SIG{PIPE} = 'IGNORE';

    # Also stop when the test process is gone (killed without END).
    while (!$stopping && getppid() == $self->{owner}) {
        while ((my $done = waitpid(-1, POSIX::WNOHANG())) > 0) {
            delete $workers{$done};
        }
        while (keys %workers < $self->{workers}) {
            my $pid = fork;
            last unless defined $pid;
            if ($pid == 0) {
                eval { $self->_work($daemon) };
                POSIX::_exit(0);
            }
            $workers{$pid} = 1;
        }
        Time::HiRes::sleep(0.2);
    }
    kill 'TERM', keys %workers;
    waitpid($_, 0) for keys %workers;
}

# Worker process: one connection at a time until the server stops.
sub _work {
    my ($self, $daemon) = @_;
    my $server = getppid();

    $SIG{TERM} = 'DEFAULT';
    $SIG{INT}  = 'DEFAULT';
    $SIG{ALRM} = 'DEFAULT';
    while (getppid() == $server) {
        my $conn = $daemon->accept or next;
        # The accepted socket inherits the short accept timeout; a client
        # slowed down by valgrind needs longer for TLS and its request.
        $conn->timeout($READ_TIMEOUT);
        alarm $CONNECTION_LIFETIME;
        eval { $self->_handle_connection($conn) };
        alarm 0;
        close $conn;
    }
}

sub _handle_connection {
    my ($self, $conn) = @_;

    if ($self->{tls}) {
        IO::Socket::SSL->start_SSL($conn,
            SSL_server    => 1,
            Timeout       => $READ_TIMEOUT,
            SSL_cert_file => "$self->{dir}/cert.pem",
            SSL_key_file  => "$self->{dir}/key.pem",
        ) or return;
        # HTTP::Daemon::ClientConn parses; IO::Socket::SSL does the I/O.
        bless $conn, 'ItsmMock::TLSConnection';
    }
    my $request = $conn->get_request or return;
    my $mode = $self->_mode;
    return if $mode->{mode} eq 'close';

    my $response = $self->_respond($request, $mode);
    $conn->force_last_request;
    $conn->send_response($response);
    $conn->close;
}

sub _mode {
    my ($self) = @_;
    my $text = eval { _read_file($self->{mode_file}) };
    my $mode = $text ? eval { $json->decode($text) } : undef;
    return $mode || { mode => 'up' };
}

sub _respond {
    my ($self, $req, $mode) = @_;
    my $uri   = URI->new($req->uri);
    my $path  = $uri->path;
    my %query = $uri->query_form;
    my $auth  = $self->_auth_of($req);

    if ($path eq '/oauth/token' || $path eq '/oauth_token.do') {
        return $self->_token_endpoint($req, $mode);
    }
    $self->_log($req, $auth);
    if (my $res = _mode_response($mode)) {
        return $res;
    }

    if ($path eq '/rest/api/3/myself') {
        return _json_response(200, { accountId => 'mock-account',
                                     displayName => 'Mock User' })
            if $auth->{authorized};
        return _json_response(401, {
            errorMessages => ['You are not authenticated. Authentication '
                              . 'required to perform this operation.'],
            errors => {} });
    }
    if ($path eq '/api/now/table/sys_user') {
        return _json_response(200, { result => [
            { sys_id => '6816f79cc0a8016401c5a33be04be441',
              user_name => 'mock.user' } ] })
            if $auth->{authorized};
        return _json_response(401, {
            error => { message => 'User Not Authenticated',
                       detail => 'Required to provide Auth information' },
            status => 'failure' });
    }
    if ($path eq '/api/v2/users/me.json') {
        return _json_response(200, { user => {
            id => 1234567, name => 'Mock Agent',
            email => $self->{email}, role => 'admin' } })
            if $auth->{authorized};
        return _json_response(200, { user => {
            id => undef, url => undef, name => 'Anonymous user',
            email => 'invalid@example.com', role => 'end-user' } });
    }
    if ($path eq '/health') {
        return _json_response(200, { status => 'ok' });
    }
    if ($path eq '/secure/health') {
        return _json_response($auth->{authorized} ? 200 : 401,
                              { status => $auth->{authorized}
                                          ? 'ok' : 'unauthorized' });
    }
    if ($path eq '/slow') {
        Time::HiRes::sleep(($query{ms} || 1000) / 1000);
        return _json_response(200, { status => 'ok' });
    }
    if ($path =~ m{^/status/(\d{3})$}) {
        my $res = _json_response($1, { status => $1 + 0 });
        $res->header('Retry-After' => $query{retry_after})
            if defined $query{retry_after};
        return $res;
    }
    if ($path eq '/redirect') {
        my $res = HTTP::Response->new(302, 'Found');
        $res->header(Location => $query{to}
                                 || $self->url('/rest/api/3/myself'));
        return $res;
    }
    return _html_response() if $path eq '/html';
    if ($path eq '/text') {
        return HTTP::Response->new(200, 'OK',
                                   ['Content-Type' => 'text/plain'], "OK\n");
    }
    if ($path eq '/big') {
        my $body = '{"data":"' . ('x' x (($query{kib} || 200) * 1024 - 11))
                   . '"}';
        my $res = HTTP::Response->new(200, 'OK',
                                      ['Content-Type' => 'application/json']);
        if ($query{chunked}) {
            # A code ref makes HTTP::Daemon send chunked, without a length.
            my @chunks = unpack '(a16384)*', $body;
            $res->content(sub { shift @chunks });
        }
        else {
            $res->content($body);
        }
        return $res;
    }
    return _json_response(404, { error => "no mock endpoint $path" });
}

# The response that the mode forces, or undef to answer normally.
sub _mode_response {
    my ($mode) = @_;
    my $m = $mode->{mode};

    Time::HiRes::sleep(($mode->{ms} || 0) / 1000) if $m eq 'slow';
    return _json_response(503, { error => 'service unavailable' })
        if $m eq 'down';
    return _json_response(401, { error => 'unauthorized' })
        if $m eq 'unauthorized';
    return _html_response() if $m eq 'hibernate';
    return undef;
}

# Client credentials grant (RFC 6749 section 4.4).
sub _token_endpoint {
    my ($self, $req, $mode) = @_;
    my %form = URI->new('?' . ($req->content // ''))->query_form;
    my ($id, $secret, $how);

    if (my $basic = _basic_of($req)) {
        # RFC 6749 section 2.3.1: both parts are form-encoded first.
        ($id, $secret) = map { uri_unescape(s/\+/ /gr) } @$basic;
        $how = 'basic';
    }
    elsif (defined $form{client_id}) {
        ($id, $secret, $how) = ($form{client_id}, $form{client_secret},
                                'form');
    }
    my $ok = $req->method eq 'POST'
             && ($form{grant_type} // '') eq 'client_credentials'
             && defined $id && $id eq $self->{client_id}
             && defined $secret && $secret eq $self->{client_secret};
    $self->_log($req, { scheme => $how // 'none', user => $id,
                        authorized => $ok ? 1 : 0 });
    if (my $res = _mode_response($mode)) {
        return $res;
    }

    return _json_response(405, { error => 'invalid_request' })
        if $req->method ne 'POST';
    return _json_response(400, { error => 'unsupported_grant_type' })
        if ($form{grant_type} // '') ne 'client_credentials';
    return _json_response(401, { error => 'invalid_client' }) unless $ok;

    my $token = sprintf 'mock-access-%d-%d', $$, int(rand(1e9));
    _append_line($self->{tokens_file}, $token);
    return _json_response(200, { access_token => $token,
                                 token_type => 'Bearer',
                                 expires_in => $self->{token_ttl} + 0 });
}

sub _basic_of {
    my ($req) = @_;
    my $header = $req->header('Authorization') // '';
    return unless $header =~ /^Basic\s+(\S+)$/i;
    my ($user, $secret) = split /:/, decode_base64($1), 2;
    return [$user // '', $secret // ''];
}

sub _auth_of {
    my ($self, $req) = @_;
    my $header = $req->header('Authorization');
    my $key = $req->header($self->{api_key_header});

    if (my $basic = _basic_of($req)) {
        my ($user, $secret) = @$basic;
        my $ok = ($user eq $self->{username}
                  && $secret eq $self->{password})
              || (($user eq $self->{email}
                   || $user eq "$self->{email}/token")
                  && $secret eq $self->{api_token});
        return { scheme => 'basic', user => $user, authorized => $ok ? 1 : 0 };
    }
    if (defined $header && $header =~ /^Bearer\s+(\S+)$/i) {
        my $token = $1;
        my %issued = map { chomp; ($_ => 1) }
                     split /^/m, (_read_file($self->{tokens_file}) // '');
        my $ok = $token eq $self->{api_token}
              || $token eq $self->{bearer_token} || $issued{$token};
        return { scheme => 'bearer', authorized => $ok ? 1 : 0 };
    }
    if (defined $key) {
        return { scheme => 'apikey',
                 authorized => $key eq $self->{api_key} ? 1 : 0 };
    }
    return { scheme => defined $header ? 'other' : 'none', authorized => 0 };
}

sub _log {
    my ($self, $req, $auth) = @_;
    my $uri = URI->new($req->uri);
    _append_line($self->{log_file}, $json->encode({
        time       => Time::HiRes::time(),
        method     => $req->method,
        path       => $uri->path,
        query      => $uri->query // '',
        auth       => $auth->{scheme},
        user       => $auth->{user},
        authorized => $auth->{authorized} ? 1 : 0,
        tls        => $self->{tls} ? 1 : 0,
    }));
}

sub _json_response {
    my ($code, $data) = @_;
    return HTTP::Response->new($code, status_message($code) // 'Status',
        ['Content-Type' => 'application/json'], $json->encode($data));
}

sub _html_response {
    return HTTP::Response->new(200, 'OK', ['Content-Type' => 'text/html'],
        "<html><body><h1>Your instance is hibernating</h1></body></html>\n");
}

sub _make_certificate {
    my ($self) = @_;
    my $dir = $self->{dir};
    my @command = (
        qw(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
           -nodes -days 2 -subj /CN=127.0.0.1),
        -addext  => 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        -keyout  => "$dir/key.pem",
        -out     => "$dir/cert.pem",
    );

    # openssl reports progress on stderr; keep it out of the TAP output.
    open my $saved, '>&', \*STDERR or die "ItsmMock: cannot dup stderr: $!\n";
    open STDERR, '>', "$dir/openssl.log"
        or die "ItsmMock: cannot write $dir/openssl.log: $!\n";
    my $status = system @command;
    open STDERR, '>&', $saved or die "ItsmMock: cannot restore stderr: $!\n";
    die "ItsmMock: openssl could not create a certificate: "
        . (_read_file("$dir/openssl.log") // "exit status $status") . "\n"
        if $status != 0;
}

sub _read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    flock $fh, LOCK_SH;
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}

sub _write_file {
    my ($path, $data) = @_;
    open my $fh, '>', $path or die "ItsmMock: cannot write $path: $!\n";
    flock $fh, LOCK_EX;
    print $fh $data;
    close $fh or die "ItsmMock: cannot write $path: $!\n";
}

sub _append_line {
    my ($path, $line) = @_;
    open my $fh, '>>', $path or return;
    flock $fh, LOCK_EX;
    print $fh "$line\n";
    close $fh;
}

package ItsmMock::TLSConnection;

# IO::Socket::SSL first, so that reads and writes go through TLS.
our @ISA = ('IO::Socket::SSL', 'HTTP::Daemon::ClientConn');

1;
