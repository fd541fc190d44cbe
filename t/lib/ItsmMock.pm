# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Mock ITSM service for the mod_itsm tests: Jira, ServiceNow and Zendesk
# probe and ticket endpoints, an OAuth token endpoint and paths that
# misbehave on purpose, served on 127.0.0.1 over HTTP or HTTPS with a
# self-signed certificate.
#
#   my $mock = ItsmMock->start(tls => 1);
#   ... $mock->url('/rest/api/3/myself'), $mock->ca_file ...
#   $mock->set_mode('down');          # every request gets a 503
#   my @log = $mock->requests;        # what arrived, without secrets
#   my $issues = $mock->tickets('jira')->{issues};  # the ticket store
#   $mock->stop;                      # also done by DESTROY and END
#
# Options of start (all optional): tls, port, username, password, email,
# api_token, bearer_token, api_key, api_key_header, client_id,
# client_secret, token_ttl (seconds, for issued OAuth tokens), workers,
# confluence (0: /wiki answers 404, as on a site without Confluence),
# journal_read (0: sys_journal_field answers 403, as for an account without
# the role), data_policy (0: resolving an incident needs no close_code and
# close_notes), max_page_size (default 100: the most issues or tickets a
# Jira search or Zendesk list page returns, whatever the request asks).
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
# Ticket endpoints (see "ticket endpoints" below; the subset mod_itsm
# uses, with each service's status codes and error bodies, and each
# service's 401 body for wrong credentials):
#   Jira        POST /rest/api/3/issue; GET, PUT /rest/api/3/issue/{key};
#               GET, POST .../transitions; PUT .../assignee; GET, POST
#               .../comment; POST /rest/api/3/search/jql (JQL subset:
#               project, status, statusCategory, assignee, key; AND;
#               ORDER BY); GET /rest/api/3/user/search; Confluence GET
#               /wiki/rest/api/search?cql=...text~"..."
#   ServiceNow  GET, POST /api/now/table/{table}; GET, PATCH, PUT
#               /api/now/table/{table}/{sys_id} for incident, sys_user
#               (with sysparm_query), kb_knowledge, sys_journal_field;
#               encoded queries with =, !=, LIKE, IN, STARTSWITH, ^OR,
#               ORDERBY, 123TEXTQUERY321 and dot-walked references
#   Zendesk     GET, POST /api/v2/tickets.json (cursor pagination); GET,
#               PUT /api/v2/tickets/{id}.json; GET /api/v2/search.json
#               (type, status, assignee); GET
#               /api/v2/help_center/articles/search.json
# The store starts with a few tickets, users and articles per system
# (_seed_tickets) and is shared by all workers of one mock.
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
#   ratelimit, retry_after => S
#                  429 with Retry-After: S (default 30) and the service's
#                  error body
# Any mode takes path_prefix => P to apply only to paths that start with
# P; other paths are answered normally.

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
use MIME::Base64 qw(decode_base64 encode_base64);
use POSIX ();
use Time::HiRes ();
use URI ();
use URI::Escape qw(uri_unescape);

my $json = JSON::PP->new->canonical;

# Request and response bodies of the ticket endpoints and their store are
# UTF-8 bytes.
my $wire = JSON::PP->new->utf8->canonical;

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
    confluence     => 1,
    journal_read   => 1,
    data_policy    => 1,
    max_page_size  => 100,
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
    $self->{tickets_file} = "$self->{dir}/tickets.json";
    _write_file($self->{log_file}, '');
    _write_file($self->{tokens_file}, '');
    _write_file($self->{tickets_file}, $wire->encode($self->_seed_tickets));
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

# The ticket store as the ticket endpoints left it, decoded: the whole
# store, or with $system ('jira', 'servicenow' or 'zendesk') its part.
#   jira        {issues => {KEY => {id, key, project, summary, description
#               (ADF), status, priority, assignee (accountId), comments =>
#               [{id, body (ADF), author, created, internal}], ...}},
#               users, projects, pages}
#   servicenow  {tables => {incident => {sys_id => record}, sys_user,
#               kb_knowledge, sys_journal_field}}; records hold internal
#               values, and comments and work notes are journal entries
#   zendesk     {tickets => {id => {id, subject, description, status,
#               priority, assignee_id, comments => [{id, body, public,
#               author_id, created_at}], ...}}, users, articles}
# Times are seconds since the epoch, except ServiceNow's text.
sub tickets {
    my ($self, $system) = @_;
    my $text = _read_file($self->{tickets_file});
    my $store = defined $text ? $wire->decode($text) : {};
    return defined $system ? $store->{$system} : $store;
}

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
    return if $mode->{mode} eq 'close'
              && (!defined $mode->{path_prefix}
                  || index($request->uri->path, $mode->{path_prefix}) == 0);

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
    if (my $res = _mode_response($mode, $path)) {
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
    # With a sysparm_query, sys_user is a table of the ticket endpoints.
    if ($path eq '/api/now/table/sys_user' && !defined $query{sysparm_query}) {
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
    if (my $res = $self->_ticket_response($req, $auth)) {
        return $res;
    }
    return _json_response(404, { error => "no mock endpoint $path" });
}

# The response that the mode forces, or undef to answer normally.  With
# path_prefix, the mode applies only to paths that start with it.
sub _mode_response {
    my ($mode, $path) = @_;
    my $m = $mode->{mode};

    return undef if defined $mode->{path_prefix}
                    && index($path, $mode->{path_prefix}) != 0;
    return _rate_limited($path, $mode->{retry_after}) if $m eq 'ratelimit';

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
    if (my $res = _mode_response($mode, $req->uri->path)) {
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

# ---------------------------------------------------------------------------
# ticket endpoints
#
# Jira Cloud REST v3 and Confluence search, the ServiceNow Table API and
# Zendesk Support and Help Center, with the shapes, status codes and error
# bodies of the real services for the subset that mod_itsm uses.  State is
# one JSON file (tickets.json in the mock's directory) under flock, because
# every connection is served by another worker process.

# Jira workflow of every mock project: status name => [id, category key,
# category name].  Any status can move to any other, except that a closed
# issue can only be reopened.
my %JIRA_STATUS = (
    'To Do'       => ['10000', 'new', 'To Do'],
    'In Progress' => ['3', 'indeterminate', 'In Progress'],
    'Resolved'    => ['5', 'done', 'Done'],
    'Closed'      => ['6', 'done', 'Done'],
);
my @JIRA_TRANSITIONS = (
    ['11', 'To Do', 'To Do'],
    ['21', 'Start Progress', 'In Progress'],
    ['31', 'Resolve Issue', 'Resolved'],
    ['41', 'Close Issue', 'Closed'],
);
my @JIRA_REOPEN = (['51', 'Reopen Issue', 'To Do']);
my %JIRA_PRIORITY = (Highest => '1', High => '2', Medium => '3',
                     Low => '4', Lowest => '5');
my %JIRA_ISSUE_TYPES = map { $_ => 1 } qw(Task Bug Story Epic Incident);

my %SNOW_STATE = (1 => 'New', 2 => 'In Progress', 3 => 'On Hold',
                  6 => 'Resolved', 7 => 'Closed', 8 => 'Canceled');
my %SNOW_PRIORITY = (1 => '1 - Critical', 2 => '2 - High',
                     3 => '3 - Moderate', 4 => '4 - Low',
                     5 => '5 - Planning');
my %SNOW_LEVEL = (1 => '1 - High', 2 => '2 - Medium', 3 => '3 - Low');
# The default priority lookup: "impact/urgency" => priority.
my %SNOW_LOOKUP = ('1/1' => 1, '1/2' => 2, '2/1' => 2, '1/3' => 3,
                   '2/2' => 3, '3/1' => 3, '2/3' => 4, '3/2' => 4,
                   '3/3' => 5);
my %SNOW_TABLES = map { $_ => 1 }
                  qw(incident sys_user kb_knowledge sys_journal_field);
my %SNOW_REFERENCES = (assigned_to => 1, caller_id => 1);

my %ZENDESK_STATUS = map { $_ => 1 } qw(new open pending hold solved closed);
my %ZENDESK_PRIORITY = map { $_ => 1 } qw(low normal high urgent);

# Routes: system, method pattern, path pattern, handler.
my @TICKET_ROUTES = (
    ['jira', 'POST', qr{^/rest/api/3/issue/?$}, \&_jira_create],
    ['jira', 'GET', qr{^/rest/api/3/issue/([^/]+)$}, \&_jira_get],
    ['jira', 'PUT', qr{^/rest/api/3/issue/([^/]+)$}, \&_jira_edit],
    ['jira', 'GET', qr{^/rest/api/3/issue/([^/]+)/transitions$},
     \&_jira_transitions],
    ['jira', 'POST', qr{^/rest/api/3/issue/([^/]+)/transitions$},
     \&_jira_transition],
    ['jira', 'PUT', qr{^/rest/api/3/issue/([^/]+)/assignee$},
     \&_jira_assignee],
    ['jira', 'POST', qr{^/rest/api/3/issue/([^/]+)/comment$},
     \&_jira_add_comment],
    ['jira', 'GET', qr{^/rest/api/3/issue/([^/]+)/comment$},
     \&_jira_comments],
    ['jira', 'POST', qr{^/rest/api/3/search/jql$}, \&_jira_search],
    ['jira', 'GET', qr{^/rest/api/3/user/search$}, \&_jira_user_search],
    ['confluence', 'GET', qr{^/wiki/rest/api/search$},
     \&_confluence_search],
    ['servicenow', 'GET', qr{^/api/now/table/(\w+)$}, \&_snow_list],
    ['servicenow', 'POST', qr{^/api/now/table/(\w+)$}, \&_snow_create],
    ['servicenow', 'GET', qr{^/api/now/table/(\w+)/(\w+)$}, \&_snow_get],
    ['servicenow', 'PATCH|PUT', qr{^/api/now/table/(\w+)/(\w+)$},
     \&_snow_update],
    ['zendesk', 'GET', qr{^/api/v2/tickets\.json$}, \&_zendesk_list],
    ['zendesk', 'POST', qr{^/api/v2/tickets\.json$}, \&_zendesk_create],
    ['zendesk', 'GET', qr{^/api/v2/tickets/(\d+)\.json$}, \&_zendesk_get],
    ['zendesk', 'PUT', qr{^/api/v2/tickets/(\d+)\.json$},
     \&_zendesk_update],
    ['zendesk', 'GET', qr{^/api/v2/search\.json$}, \&_zendesk_search],
    ['zendesk', 'GET', qr{^/api/v2/help_center/articles/search\.json$},
     \&_help_center_search],
);

# The system whose API a path belongs to, or undef.
sub _system_of {
    my ($path) = @_;
    return 'jira'       if $path =~ m{^/rest/api/};
    return 'confluence' if $path =~ m{^/wiki/};
    return 'servicenow' if $path =~ m{^/api/now/};
    return 'zendesk'    if $path =~ m{^/api/v2/};
    return undef;
}

# Each system's error body for a status and message.
sub _system_error {
    my ($system, $code, $message, $detail) = @_;
    if ($system eq 'jira') {
        return _api_response($code, { errorMessages => [$message],
                                      errors => {} });
    }
    if ($system eq 'confluence') {
        return _api_response($code, { statusCode => $code + 0,
                                      message => $message });
    }
    if ($system eq 'servicenow') {
        return _api_response($code, { error => { message => $message,
                                                 detail => $detail },
                                      status => 'failure' });
    }
    return _api_response($code, { error => $message,
                                  (defined $detail
                                   ? (description => $detail) : ()) });
}

# NOTE: Retry-After is what the services send with a 429; the Jira,
# Confluence and ServiceNow bodies here are plausible shapes of their
# error formats, not copies of real 429 bodies.
sub _rate_limited {
    my ($path, $retry_after) = @_;
    my $system = _system_of($path // '') // 'other';
    my $res = $system eq 'other'
        ? _json_response(429, { error => 'rate limited' })
        : $system eq 'zendesk'
        ? _system_error($system, 429, 'APIRateLimitExceeded',
                        'Number of allowed API requests per minute exceeded')
        : _system_error($system, 429, 'Rate limit exceeded.',
                        'Too many requests; try again later');
    $res->header('Retry-After' => $retry_after // 30);
    return $res;
}

sub _unauthorized {
    my ($system) = @_;
    return _system_error('jira', 401, 'You are not authenticated. '
                         . 'Authentication required to perform this '
                         . 'operation.') if $system eq 'jira';
    return _system_error('confluence', 401, 'This request requires '
                         . 'authentication') if $system eq 'confluence';
    return _system_error('servicenow', 401, 'User Not Authenticated',
                         'Required to provide Auth information')
        if $system eq 'servicenow';
    return _api_response(401, { error => "Couldn't authenticate you" });
}

# The response of a ticket endpoint, or undef when the path is none.
sub _ticket_response {
    my ($self, $req, $auth) = @_;
    my $uri = URI->new($req->uri);
    my $path = $uri->path;
    my $system = _system_of($path) or return undef;
    my (@matched, $handler, @captures);

    for my $route (@TICKET_ROUTES) {
        my ($sys, $methods, $pattern, $code) = @$route;
        next unless $path =~ $pattern;
        @matched = ($sys);
        next unless $req->method =~ /^(?:$methods)$/;
        ($handler, @captures) = ($code, map { uri_unescape($_) }
                                        ($path =~ $pattern));
        last;
    }
    return undef unless @matched;
    return _unauthorized($system) unless $auth->{authorized};
    return _system_error($system, 405, 'Method Not Allowed',
                         "The method is not supported for $path")
        unless $handler;
    if ($system eq 'confluence' && !$self->{confluence}) {
        return _api_response(404, { message => 'Not Found' });
    }

    my %query = $uri->query_form;
    my $body;
    if ($req->method =~ /^(?:POST|PUT|PATCH)$/) {
        my $type = $req->header('Content-Type') // '';
        return _system_error($system, 415, 'Unsupported Media Type',
                             'Content-Type must be application/json')
            unless $type =~ m{^application/json}i;
        $body = eval { $wire->decode($req->content) };
        if (!defined $body || ref $body ne 'HASH') {
            return _system_error($system, 400,
                                 $system eq 'servicenow'
                                 ? ('Exception while reading request',
                                    'The payload is not valid JSON.')
                                 : ('Invalid request payload. Refer to the '
                                    . 'REST API documentation and try '
                                    . 'again.'));
        }
    }
    my $call = { req => $req, query => \%query, body => $body,
                 captures => \@captures };
    return $self->_with_store(sub { $self->$handler($_[0], $call) });
}

# Run $code with the ticket store locked and write back what it changed.
sub _with_store {
    my ($self, $code) = @_;
    open my $fh, '+<', $self->{tickets_file}
        or die "ItsmMock: cannot open $self->{tickets_file}: $!\n";
    flock $fh, LOCK_EX;
    my $text = do { local $/; <$fh> };
    my $store = $wire->decode($text);
    my $result = $code->($store);
    seek $fh, 0, 0;
    truncate $fh, 0;
    print $fh $wire->encode($store);
    close $fh or die "ItsmMock: cannot write $self->{tickets_file}: $!\n";
    return $result;
}

sub _api_response {
    my ($code, $data, @headers) = @_;
    my $res = HTTP::Response->new($code, status_message($code) // 'Status',
                                  ['Content-Type' => 'application/json',
                                   @headers]);
    $res->content($wire->encode($data)) if defined $data;
    return $res;
}

sub _no_content { HTTP::Response->new(204, 'No Content') }

sub _jira_time { POSIX::strftime('%Y-%m-%dT%H:%M:%S.000+0000',
                                 gmtime $_[0]) }
sub _snow_time { POSIX::strftime('%Y-%m-%d %H:%M:%S', gmtime $_[0]) }
sub _zendesk_time { POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) }

# Newest first; equal times by id, newest first.
sub _newest_first {
    my ($list, $time, $id) = @_;
    return sort { $b->{$time} <=> $a->{$time} || $b->{$id} <=> $a->{$id} }
           @$list;
}

# Up to $count elements of @$list from $offset.  (A slice past the end
# under grep would add undefined elements to the array.)
sub _slice {
    my ($list, $offset, $count) = @_;
    my $end = $offset + $count - 1;
    $end = $#$list if $end > $#$list;
    return $offset > $end ? () : @{$list}[$offset .. $end];
}

sub _page_token { encode_base64("offset:$_[0]", '') }

sub _page_offset {
    my ($token) = @_;
    my $text = decode_base64($token // '');
    return $text =~ /^offset:(\d+)$/ ? $1 : undef;
}

sub _adf {
    my ($text) = @_;
    return { type => 'doc', version => 1, content => [
        { type => 'paragraph',
          content => [ { type => 'text', text => $text } ] } ] };
}

# Plain text of an ADF document, for matching and for tests.
sub adf_text {
    my ($node) = @_;
    return '' unless ref $node eq 'HASH';
    return $node->{text} // '' if ($node->{type} // '') eq 'text';
    return "\n" if ($node->{type} // '') eq 'hardBreak';
    my $text = join '', map { adf_text($_) } @{ $node->{content} || [] };
    return ($node->{type} // '') eq 'paragraph' ? "$text\n\n" : $text;
}

sub _seed_tickets {
    my ($self) = @_;
    my $t0 = 1714557600;    # 2024-05-01T10:00:00Z
    my %jira_user = (accountId => 'mock-account', displayName => 'Mock User',
                     emailAddress => $self->{email});
    my %alana = (accountId => '5b10ac8d82e05b22cc7d4ef5',
                 displayName => 'Alana Grant',
                 emailAddress => 'alana@example.com');
    my @issues = (
        ['ITSM-1', '10001', 'VPN drops every hour', 'To Do', 'Medium',
         undef, 0],
        ['ITSM-2', '10002', 'Laptop does not boot', 'In Progress', 'High',
         $alana{accountId}, 3600],
        ['ITSM-3', '10003', 'Printer on floor 2 jams', 'Resolved', 'Low',
         undef, 7200],
    );
    my %jira_issues = map {
        my ($key, $id, $summary, $status, $priority, $assignee, $dt) = @$_;
        my $description = _adf("$summary since Monday.");
        # One description with the nodes of a typical Jira editor text.
        push @{ $description->{content} },
            { type => 'bulletList', content => [
                map { { type => 'listItem', content => [
                          { type => 'paragraph', content => [
                              { type => 'text', text => $_ } ] } ] } }
                    'Tray 1', 'Tray 2' ] },
            { type => 'paragraph', content => [
                { type => 'text', text => 'Call ' },
                { type => 'mention', attrs => { id => $alana{accountId},
                                                text => '@Alana Grant' } },
                { type => 'hardBreak' },
                { type => 'text', text => 'Thanks' } ] }
            if $key eq 'ITSM-3';
        ($key => { id => $id, key => $key, project => 'ITSM',
                   summary => $summary,
                   description => $description,
                   status => $status, priority => $priority,
                   assignee => $assignee, issuetype => 'Task',
                   created => $t0 + $dt, updated => $t0 + $dt,
                   comments => [], extra => {} })
    } @issues;

    my %beth = (sys_id => '46d44a23a9fe19810012d100cca80666',
                user_name => 'beth.anglin', name => 'Beth Anglin',
                email => 'beth.anglin@example.com');
    my %mock_user = (sys_id => '6816f79cc0a8016401c5a33be04be441',
                     user_name => 'mock.user', name => 'Mock User',
                     email => $self->{email});
    my @incidents = (
        ['1c741bd70b2322007518478d83673af3', 'INC0010001',
         'Email is slow', '1', '2', '2', '', 0],
        ['1c832706732023002728660c4cf6a7b9', 'INC0010002',
         'Cannot reach the VPN', '2', '1', '2', $beth{sys_id}, 3600],
        ['46e3e949a9fe19810069b824ba2c761a', 'INC0010003',
         'Password reset for SAP', '6', '2', '3', '', 7200],
    );
    my %incident = map {
        my ($sys_id, $number, $short, $state, $impact, $urgency, $to, $dt)
            = @$_;
        ($sys_id => { sys_id => $sys_id, number => $number, _seq => $dt,
                      short_description => $short,
                      description => "$short for the whole team.",
                      state => $state, impact => $impact,
                      urgency => $urgency,
                      priority => $SNOW_LOOKUP{"$impact/$urgency"},
                      assigned_to => $to, close_code => '',
                      close_notes => '',
                      sys_created_on => _snow_time($t0 + $dt),
                      sys_updated_on => _snow_time($t0 + $dt),
                      sys_created_by => 'admin',
                      sys_updated_by => 'admin' })
    } @incidents;
    my %kb = (
        '0b48fd75474321009db4b5b08b9a71c2' => {
            sys_id => '0b48fd75474321009db4b5b08b9a71c2',
            number => 'KB0000001', workflow_state => 'published',
            short_description => 'How to reset your VPN password',
            text => '<p>Open the <b>VPN</b> portal &amp; choose '
                    . '"Forgot password" &#8212; it&#x2019;s quick.</p>' },
        '3020c9b1474321009db4b5b08b9a71a2' => {
            sys_id => '3020c9b1474321009db4b5b08b9a71a2',
            number => 'KB0000002', workflow_state => 'published',
            short_description => 'Printer troubleshooting',
            text => '<p>Turn the printer off and on.</p>' },
        'c85cd2519f77230088aebde8132e70c2' => {
            sys_id => 'c85cd2519f77230088aebde8132e70c2',
            number => 'KB0000003', workflow_state => 'draft',
            short_description => 'VPN draft article',
            text => '<p>Not published yet.</p>' },
    );

    my %zendesk_ticket = map {
        my ($id, $subject, $status, $priority, $assignee, $dt) = @$_;
        ($id => { id => $id + 0, subject => $subject,
                  description => "$subject, please help.",
                  status => $status, priority => $priority,
                  assignee_id => $assignee, requester_id => 555,
                  created_at => $t0 + $dt, updated_at => $t0 + $dt,
                  comments => [ { id => 9000 + $id, public => JSON::PP::true,
                                  body => "$subject, please help.",
                                  author_id => 555,
                                  created_at => $t0 + $dt } ] })
    } ([1, 'Cannot log in', 'new', 'normal', undef, 0],
       [2, 'Refund request', 'open', 'high', 7654321, 3600],
       [3, 'Broken link in the help center', 'solved', 'low', undef, 7200],
       [4, 'Old question', 'closed', undef, undef, 10800]);

    return {
        jira => {
            next_id => 10004, next_comment => 20000,
            projects => { ITSM => { type => 'service_desk', next => 4 },
                          DEV => { type => 'software', next => 1 } },
            users => [ \%jira_user, \%alana ],
            issues => \%jira_issues,
            pages => [
                { id => '65537', title => 'VPN setup guide',
                  space => 'IT',
                  body => 'Install the VPN client and sign in with your '
                          . 'company account.' },
                { id => '65538', title => 'Printer FAQ', space => 'IT',
                  body => 'Printers on every floor accept badge '
                          . 'release.' },
            ],
        },
        servicenow => {
            next_number => 10004, next_seq => 10000,
            tables => { incident => \%incident, kb_knowledge => \%kb,
                        sys_user => { $beth{sys_id} => \%beth,
                                      $mock_user{sys_id} => \%mock_user },
                        sys_journal_field => {} },
        },
        zendesk => {
            next_id => 5, next_event => 30000,
            users => [
                { id => 1234567, name => 'Mock Agent',
                  email => $self->{email}, role => 'admin' },
                { id => 7654321, name => 'Sam Agent',
                  email => 'sam@example.com', role => 'agent' },
                { id => 555, name => 'Pat Customer',
                  email => 'pat@example.com', role => 'end-user' },
            ],
            tickets => \%zendesk_ticket,
            articles => [
                { id => 360001, title => 'Reset your password',
                  body => '<p>Use the <em>Forgot password</em> link on '
                          . 'the sign-in page.</p>' },
                { id => 360002, title => 'Request a refund',
                  body => '<p>Refunds are processed within 5 days.</p>' },
            ],
        },
    };
}

# --- Jira ------------------------------------------------------------------

sub _jira_not_found {
    return _system_error('jira', 404, 'Issue does not exist or you do not '
                         . 'have permission to see it.');
}

sub _jira_field_errors {
    my (%errors) = @_;
    return _api_response(400, { errorMessages => [], errors => \%errors });
}

sub _jira_find {
    my ($store, $key) = @_;
    my $issues = $store->{jira}{issues};
    return $issues->{$key} if $issues->{$key};
    my ($issue) = grep { $_->{id} eq $key } values %$issues;
    return $issue;
}

sub _jira_user {
    my ($store, $account) = @_;
    my ($user) = grep { $_->{accountId} eq ($account // '') }
                 @{ $store->{jira}{users} };
    return $user;
}

sub _jira_issue_json {
    my ($self, $store, $issue) = @_;
    my $status = $JIRA_STATUS{ $issue->{status} };
    my $user = _jira_user($store, $issue->{assignee});
    my $project = $store->{jira}{projects}{ $issue->{project} };
    return {
        id => $issue->{id}, key => $issue->{key},
        self => $self->url("/rest/api/3/issue/$issue->{id}"),
        fields => {
            summary => $issue->{summary},
            description => $issue->{description},
            status => { name => $issue->{status}, id => $status->[0],
                        statusCategory => { key => $status->[1],
                                            name => $status->[2] } },
            priority => defined $issue->{priority}
                ? { name => $issue->{priority},
                    id => $JIRA_PRIORITY{ $issue->{priority} } }
                : undef,
            assignee => $user
                ? { accountId => $user->{accountId},
                    displayName => $user->{displayName} }
                : undef,
            created => _jira_time($issue->{created}),
            updated => _jira_time($issue->{updated}),
            issuetype => { name => $issue->{issuetype} },
            project => { key => $issue->{project},
                         projectTypeKey => $project->{type} },
            %{ $issue->{extra} },
        },
    };
}

sub _is_adf {
    my ($doc) = @_;
    return ref $doc eq 'HASH' && ($doc->{type} // '') eq 'doc'
           && ($doc->{version} // 0) == 1 && ref $doc->{content} eq 'ARRAY';
}

sub _jira_create {
    my ($self, $store, $call) = @_;
    my $fields = $call->{body}{fields};
    my %errors;

    return _jira_field_errors(fields => 'Field "fields" is required.')
        unless ref $fields eq 'HASH';
    my $project_key = ref $fields->{project} eq 'HASH'
                      ? $fields->{project}{key} // '' : '';
    my $project = $store->{jira}{projects}{$project_key};
    my $type = ref $fields->{issuetype} eq 'HASH'
               ? $fields->{issuetype}{name} // '' : '';
    my $priority = ref $fields->{priority} eq 'HASH'
                   ? $fields->{priority}{name} : undef;

    $errors{project} = 'Specify a valid project ID or key' unless $project;
    $errors{summary} = 'You must specify a summary of the issue.'
        unless defined $fields->{summary} && $fields->{summary} =~ /\S/;
    $errors{issuetype} = 'Specify an issue type'
        unless $JIRA_ISSUE_TYPES{$type};
    $errors{description} = 'Operation value must be an Atlassian Document '
                           . '(see the Atlassian Document Format)'
        if defined $fields->{description} && !_is_adf($fields->{description});
    $errors{priority} = "Priority name '" . ($priority // '')
                        . "' is not valid"
        if exists $fields->{priority}
           && !(defined $priority && $JIRA_PRIORITY{$priority});
    my %extra;
    for my $name (keys %$fields) {
        next if $name =~ /^(?:project|summary|issuetype|description
                           |priority)$/x;
        if ($name =~ /^(?:customfield_\d+|labels)$/) {
            $extra{$name} = $fields->{$name};
            next;
        }
        $errors{$name} = "Field '$name' cannot be set. It is not on the "
                         . 'appropriate screen, or unknown.';
    }
    return _jira_field_errors(%errors) if %errors;

    my $jira = $store->{jira};
    my $key = $project_key . '-' . $project->{next}++;
    my $id = '' . $jira->{next_id}++;
    $jira->{issues}{$key} = {
        id => $id, key => $key, project => $project_key,
        summary => $fields->{summary}, description => $fields->{description},
        status => 'To Do', priority => $priority // 'Medium',
        assignee => undef, issuetype => $type, created => time,
        updated => time, comments => [], extra => \%extra,
    };
    return _api_response(201, { id => $id, key => $key,
                                self => $self->url("/rest/api/3/issue/$id")
                              });
}

sub _jira_get {
    my ($self, $store, $call) = @_;
    my $issue = _jira_find($store, $call->{captures}[0])
        or return _jira_not_found();
    return _api_response(200, $self->_jira_issue_json($store, $issue));
}

sub _jira_edit {
    my ($self, $store, $call) = @_;
    my $issue = _jira_find($store, $call->{captures}[0])
        or return _jira_not_found();
    my $fields = $call->{body}{fields} // {};
    my %errors;

    for my $name (keys %$fields) {
        my $value = $fields->{$name};
        if ($name eq 'priority') {
            my $priority = ref $value eq 'HASH' ? $value->{name} : undef;
            if (defined $priority && $JIRA_PRIORITY{$priority}) {
                $issue->{priority} = $priority;
            }
            else {
                $errors{priority} = "Priority name '" . ($priority // '')
                                    . "' is not valid";
            }
        }
        elsif ($name eq 'summary' && defined $value && !ref $value) {
            $issue->{summary} = $value;
        }
        else {
            $errors{$name} = "Field '$name' cannot be set. It is not on the "
                             . 'appropriate screen, or unknown.';
        }
    }
    return _jira_field_errors(%errors) if %errors;
    $issue->{updated} = time;
    return _no_content();
}

# The transitions out of the issue's status.
sub _jira_available {
    my ($issue) = @_;
    return @JIRA_REOPEN if $issue->{status} eq 'Closed';
    return grep { $_->[2] ne $issue->{status} } @JIRA_TRANSITIONS;
}

sub _jira_transitions {
    my ($self, $store, $call) = @_;
    my $issue = _jira_find($store, $call->{captures}[0])
        or return _jira_not_found();
    my @list = map {
        my ($id, $name, $to) = @$_;
        my $status = $JIRA_STATUS{$to};
        { id => $id, name => $name, hasScreen => JSON::PP::false,
          to => { name => $to, id => $status->[0],
                  statusCategory => { key => $status->[1],
                                      name => $status->[2] } } }
    } _jira_available($issue);
    return _api_response(200, { expand => 'transitions',
                                transitions => \@list });
}

sub _jira_transition {
    my ($self, $store, $call) = @_;
    my $issue = _jira_find($store, $call->{captures}[0])
        or return _jira_not_found();
    my $id = ref $call->{body}{transition} eq 'HASH'
             ? $call->{body}{transition}{id} // '' : '';
    my ($transition) = grep { $_->[0] eq $id } _jira_available($issue);
    return _system_error('jira', 400, "Transition id '$id' is not valid for "
                         . 'this issue.') unless $transition;
    $issue->{status} = $transition->[2];
    $issue->{updated} = time;
    return _no_content();
}

sub _jira_assignee {
    my ($self, $store, $call) = @_;
    my $issue = _jira_find($store, $call->{captures}[0])
        or return _jira_not_found();
    my $account = $call->{body}{accountId};
    if (defined $account && !_jira_user($store, $account)) {
        return _jira_field_errors(assignee => "User '$account' cannot be "
                                  . 'assigned issues.');
    }
    $issue->{assignee} = $account;
    $issue->{updated} = time;
    return _no_content();
}

sub _jira_comment_json {
    my ($self, $store, $issue, $comment) = @_;
    my $user = _jira_user($store, $comment->{author});
    return { id => $comment->{id},
             self => $self->url("/rest/api/3/issue/$issue->{id}/comment/"
                                . $comment->{id}),
             author => { accountId => $user->{accountId},
                         displayName => $user->{displayName} },
             body => $comment->{body},
             created => _jira_time($comment->{created}),
             updated => _jira_time($comment->{created}),
             jsdPublic => $comment->{internal} ? JSON::PP::false
                                               : JSON::PP::true };
}

sub _jira_add_comment {
    my ($self, $store, $call) = @_;
    my $issue = _jira_find($store, $call->{captures}[0])
        or return _jira_not_found();
    my $body = $call->{body}{body};
    return _jira_field_errors(comment => 'Comment body can not be empty!')
        unless _is_adf($body) && adf_text($body) =~ /\S/;
    my $internal = 0;
    for my $property (@{ $call->{body}{properties} || [] }) {
        $internal = 1 if ($property->{key} // '') eq 'sd.public.comment'
                         && ref $property->{value} eq 'HASH'
                         && $property->{value}{internal};
    }
    # Only Jira Service Management projects have internal comments.
    my $project = $store->{jira}{projects}{ $issue->{project} };
    $internal = 0 unless $project->{type} eq 'service_desk';
    my $comment = { id => '' . $store->{jira}{next_comment}++,
                    body => $body, author => 'mock-account',
                    created => time, internal => $internal };
    push @{ $issue->{comments} }, $comment;
    $issue->{updated} = time;
    return _api_response(201, $self->_jira_comment_json($store, $issue,
                                                        $comment));
}

sub _jira_comments {
    my ($self, $store, $call) = @_;
    my $issue = _jira_find($store, $call->{captures}[0])
        or return _jira_not_found();
    my @comments = map { $self->_jira_comment_json($store, $issue, $_) }
                   @{ $issue->{comments} };
    return _api_response(200, { startAt => 0, maxResults => 5000,
                                total => scalar @comments,
                                comments => \@comments });
}

# Parse the JQL subset that mod_itsm sends: clauses joined by AND (field
# =, != or in a value or list) and ORDER BY.  Returns a filter or an error.
sub _jql_filter {
    my ($store, $jql) = @_;
    my $text = $jql;
    my @tests;
    my $value = qr/"((?:[^"\\]|\\.)*)"|([\w.-]+)/;

    $text =~ s/\s+ORDER\s+BY\s+.*$//is;
    while ($text =~ /\S/) {
        $text =~ s/^\s*(\w+)\s*(=|!=|\bin\b)\s*//i
            or return (undef, "Error in the JQL Query: the clause at "
                              . "'$text' is not understood.");
        my ($field, $op) = (lc $1, lc $2);
        my @values;
        if ($op eq 'in') {
            $text =~ s/^\(([^)]*)\)\s*//
                or return (undef, 'Error in the JQL Query: expected a list '
                                  . "after 'in'.");
            my $list = $1;
            while ($list =~ /$value/g) {
                push @values, defined $1 ? $1 =~ s/\\(.)/$1/gr : $2;
            }
        }
        else {
            $text =~ s/^$value\s*//
                or return (undef, 'Error in the JQL Query: expected a '
                                  . "value for '$field'.");
            push @values, defined $1 ? $1 =~ s/\\(.)/$1/gr : $2;
        }
        if ($field eq 'project') {
            for my $v (@values) {
                return (undef, "The value '$v' does not exist for the "
                               . "field 'project'.")
                    unless $store->{jira}{projects}{$v};
            }
        }
        elsif ($field eq 'status') {
            for my $v (@values) {
                return (undef, "The value '$v' does not exist for the "
                               . "field 'status'.")
                    unless grep { lc $_ eq lc $v } keys %JIRA_STATUS;
            }
        }
        elsif ($field ne 'statuscategory' && $field ne 'assignee'
               && $field ne 'key') {
            return (undef, "Field '$field' does not exist or you do not "
                           . 'have permission to view it.');
        }
        my %want = map { lc($_) => 1 } @values;
        my $get = {
            project => sub { $_[0]{project} },
            status => sub { $_[0]{status} },
            statuscategory => sub {
                my $s = $JIRA_STATUS{ $_[0]{status} };
                return $want{ $s->[1] } ? $s->[1] : $s->[2];
            },
            assignee => sub { $_[0]{assignee} // '' },
            key => sub { $_[0]{key} },
        }->{$field};
        my $negate = $op eq '!=';
        push @tests, sub { (!!$want{ lc $get->($_[0]) }) != $negate };
        last unless $text =~ s/^AND\s+//i;
    }
    return (undef, "Error in the JQL Query: the clause at '$text' is not "
                   . 'understood.') if $text =~ /\S/;
    return (sub { my $issue = shift; !grep { !$_->($issue) } @tests });
}

sub _jira_search {
    my ($self, $store, $call) = @_;
    my $body = $call->{body};
    my $jql = $body->{jql};
    return _system_error('jira', 400, 'The JQL query is required.')
        unless defined $jql && !ref $jql;
    my ($filter, $error) = _jql_filter($store, $jql);
    return _system_error('jira', 400, $error) unless $filter;
    my $max = $body->{maxResults} // 50;
    $max = $self->{max_page_size} if $max > $self->{max_page_size};
    $max = 1 if $max < 1;
    my $offset = 0;
    if (defined $body->{nextPageToken}) {
        $offset = _page_offset($body->{nextPageToken});
        return _system_error('jira', 400, 'The provided next page token is '
                             . 'invalid or expired.')
            unless defined $offset;
    }
    my @found = grep { $filter->($_) }
                _newest_first([values %{ $store->{jira}{issues} }],
                              'created', 'id');
    my @page = _slice(\@found, $offset, $max);
    my $more = $offset + $max < @found;
    return _api_response(200, {
        issues => [ map { $self->_jira_issue_json($store, $_) } @page ],
        isLast => $more ? JSON::PP::false : JSON::PP::true,
        ($more ? (nextPageToken => _page_token($offset + $max)) : ()),
    });
}

sub _jira_user_search {
    my ($self, $store, $call) = @_;
    my $query = lc($call->{query}{query} // '');
    my @users = grep {
        $query ne '' && (index(lc $_->{emailAddress}, $query) >= 0
                         || index(lc $_->{displayName}, $query) >= 0)
    } @{ $store->{jira}{users} };
    return _api_response(200, [ map {
        { accountId => $_->{accountId}, accountType => 'atlassian',
          displayName => $_->{displayName}, active => JSON::PP::true }
    } @users ]);
}

sub _confluence_search {
    my ($self, $store, $call) = @_;
    my $cql = $call->{query}{cql} // '';
    return _system_error('confluence', 400, "Could not parse cql : $cql")
        unless $cql =~ /\btext\s*~\s*"((?:[^"\\]|\\.)*)"/;
    my $term = $1 =~ s/\\(.)/$1/gr;
    my $limit = $call->{query}{limit} // 25;
    my @hits = grep { index(lc "$_->{title} $_->{body}", lc $term) >= 0 }
               @{ $store->{jira}{pages} };
    @hits = @hits[0 .. $limit - 1] if @hits > $limit;
    my $mark = sub {
        $_[0] =~ s/(\Q$term\E)/\@\@\@hl\@\@\@$1\@\@\@endhl\@\@\@/gir;
    };
    my @results = map {
        my $path = "/spaces/$_->{space}/pages/$_->{id}/"
                   . ($_->{title} =~ s/ /+/gr);
        { content => { id => $_->{id}, type => 'page', status => 'current',
                       title => $_->{title},
                       _links => { webui => $path } },
          title => $mark->($_->{title}), excerpt => $mark->($_->{body}),
          url => $path, entityType => 'content' }
    } @hits;
    return _api_response(200, { results => \@results, start => 0,
                                limit => $limit + 0,
                                size => scalar @results,
                                totalSize => scalar @results,
                                _links => { base => $self->url('/wiki'),
                                            context => '/wiki' } });
}

# --- ServiceNow ----------------------------------------------------------

sub _snow_not_found {
    return _system_error('servicenow', 404, 'No Record found',
                         "Record doesn't exist or ACL restricts the record "
                         . 'retrieval');
}

sub _snow_table {
    my ($store, $table) = @_;
    return $SNOW_TABLES{$table} ? $store->{servicenow}{tables}{$table}
                                : undef;
}

sub _snow_display {
    my ($store, $field, $value) = @_;
    return $SNOW_STATE{$value} // $value if $field eq 'state';
    return $SNOW_PRIORITY{$value} // $value if $field eq 'priority';
    return $SNOW_LEVEL{$value} // $value
        if $field eq 'impact' || $field eq 'urgency';
    if ($SNOW_REFERENCES{$field}) {
        my $user = $store->{servicenow}{tables}{sys_user}{$value};
        return $user ? $user->{name} : '';
    }
    return $value;
}

# A record as the Table API returns it for the sysparm_* parameters.
sub _snow_format {
    my ($self, $store, $record, $query) = @_;
    my @fields = $query->{sysparm_fields}
                 ? split(/,/, $query->{sysparm_fields})
                 : grep { !/^_/ } sort keys %$record;
    my $mode = $query->{sysparm_display_value} // 'false';
    my $no_link = ($query->{sysparm_exclude_reference_link} // '') eq 'true';
    my %out;

    for my $field (@fields) {
        my $value = $record->{$field} // '';
        my $display = _snow_display($store, $field, $value);
        my $link = $SNOW_REFERENCES{$field} && $value ne '' && !$no_link
                   ? $self->url("/api/now/table/sys_user/$value") : undef;
        if ($mode eq 'all') {
            $out{$field} = { display_value => $display, value => $value,
                             (defined $link ? (link => $link) : ()) };
        }
        elsif ($mode eq 'true') {
            $out{$field} = defined $link
                ? { display_value => $display, link => $link } : $display;
        }
        else {
            $out{$field} = defined $link
                ? { value => $value, link => $link } : $value;
        }
    }
    return \%out;
}

# The value of a field of a record, following one reference
# ("assigned_to.user_name").
sub _snow_field {
    my ($store, $record, $field) = @_;
    my ($name, $walk) = split /\./, $field, 2;
    my $value = $record->{$name} // '';
    return $value unless defined $walk;
    my $target = $store->{servicenow}{tables}{sys_user}{$value};
    return $target ? $target->{$walk} // '' : '';
}

# A filter and an order for an encoded query.  Terms the mock does not
# know are ignored, as ServiceNow ignores invalid terms by default.
sub _snow_query {
    my ($store, $encoded) = @_;
    my (@groups, @order);

    for my $part (split /\^/, $encoded // '') {
        next if $part eq '';
        if ($part =~ /^ORDERBY(DESC)?(\w+)$/) {
            push @order, [$2, $1 ? -1 : 1];
            next;
        }
        my $or = $part =~ s/^OR//;
        my $test;
        if ($part =~ /^123TEXTQUERY321=(.*)$/s) {
            my $term = lc $1;
            $test = sub {
                index(lc join(' ', map { $_[0]{$_} // '' }
                              qw(short_description description text)),
                      $term) >= 0 };
        }
        elsif ($part =~ /^([a-z0-9_.]+?)(!=|=|LIKE|IN|STARTSWITH)(.*)$/s) {
            my ($field, $op, $want) = ($1, $2, $3);
            $test = {
                '='  => sub { _snow_field($store, $_[0], $field) eq $want },
                '!=' => sub { _snow_field($store, $_[0], $field) ne $want },
                LIKE => sub { index(lc _snow_field($store, $_[0], $field),
                                    lc $want) >= 0 },
                IN   => sub { my $v = _snow_field($store, $_[0], $field);
                              grep { $_ eq $v } split /,/, $want },
                STARTSWITH => sub {
                    index(_snow_field($store, $_[0], $field), $want) == 0 },
            }->{$op};
        }
        next unless $test;
        if ($or && @groups) {
            push @{ $groups[-1] }, $test;
        }
        else {
            push @groups, [$test];
        }
    }
    my $filter = sub {
        my $record = shift;
        for my $group (@groups) {
            return 0 unless grep { $_->($record) } @$group;
        }
        return 1;
    };
    return ($filter, \@order);
}

sub _snow_list {
    my ($self, $store, $call) = @_;
    my ($name) = @{ $call->{captures} };
    my $q = $call->{query};
    my $table = _snow_table($store, $name)
        or return _system_error('servicenow', 400, "Invalid table $name");
    if ($name eq 'sys_journal_field' && !$self->{journal_read}) {
        return _system_error('servicenow', 403, 'User Not Authorized',
                             'ACL restricts the table sys_journal_field');
    }
    my ($filter, $order) = _snow_query($store, $q->{sysparm_query});
    my @records = grep { $filter->($_) } values %$table;
    # Equal keys keep the order of insertion, in the direction of the
    # first ORDERBY.
    my $direction = @$order ? $order->[0][1] : 1;
    @records = sort {
        my $c = 0;
        for my $o (@$order) {
            my ($x, $y) = ($a->{ $o->[0] } // '', $b->{ $o->[0] } // '');
            $c = $o->[1] * ($x cmp $y);
            last if $c;
        }
        $c || $direction * (($a->{_seq} // 0) <=> ($b->{_seq} // 0))
    } @records;
    my $offset = $q->{sysparm_offset} // 0;
    my $limit = $q->{sysparm_limit} // 10000;
    my $total = @records;
    my @page = _slice(\@records, $offset, $limit);
    my @links;
    if ($offset + $limit < $total) {
        my $next = URI->new($self->url("/api/now/table/$name"));
        $next->query_form(%$q, sysparm_offset => $offset + $limit);
        push @links, "<$next>;rel=\"next\"";
    }
    return _api_response(200,
        { result => [ map { $self->_snow_format($store, $_, $q) } @page ] },
        'X-Total-Count' => $total,
        (@links ? (Link => join ',', @links) : ()));
}

sub _snow_get {
    my ($self, $store, $call) = @_;
    my ($name, $sys_id) = @{ $call->{captures} };
    my $table = _snow_table($store, $name)
        or return _system_error('servicenow', 400, "Invalid table $name");
    my $record = $table->{$sys_id} or return _snow_not_found();
    return _api_response(200, { result => $self->_snow_format(
                                    $store, $record, $call->{query}) });
}

# Apply the fields of a request body to a record, as the Table API and the
# default business rules do.  Returns an error response or undef.
sub _snow_apply {
    my ($self, $store, $table, $record, $fields) = @_;
    my %journal;

    for my $field (keys %$fields) {
        my $value = $fields->{$field};
        $value = '' unless defined $value;
        $value = "$value" unless ref $value;
        next if ref $value || $field =~ /^sys_/;
        if ($field eq 'comments' || $field eq 'work_notes') {
            $journal{$field} = $value if $value ne '';
            next;
        }
        $record->{$field} = $value;
    }
    if ($table eq 'incident') {
        if (exists $fields->{impact} || exists $fields->{urgency}) {
            $record->{priority} =
                $SNOW_LOOKUP{"$record->{impact}/$record->{urgency}"}
                // $record->{priority};
        }
        if ($self->{data_policy} && ($record->{state} // '') =~ /^[67]$/) {
            my @missing = ((($record->{close_code} // '') eq ''
                            ? 'Resolution code' : ()),
                           (($record->{close_notes} // '') eq ''
                            ? 'Resolution notes' : ()));
            return _system_error('servicenow', 403, 'Operation Failed',
                                 "Data Policy Exception: \n\tThe following "
                                 . 'fields are mandatory: '
                                 . join(', ', @missing))
                if @missing;
        }
    }
    $record->{sys_updated_on} = _snow_time(time);
    $record->{sys_updated_by} = 'mock.user';
    for my $element (sort keys %journal) {
        my $sys_id = _random_sys_id();
        $store->{servicenow}{tables}{sys_journal_field}{$sys_id} = {
            sys_id => $sys_id, element_id => $record->{sys_id},
            element => $element, name => $table,
            value => $journal{$element}, sys_created_by => 'mock.user',
            sys_created_on => _snow_time(time),
        };
    }
    return undef;
}

sub _random_sys_id {
    return join '', map { sprintf '%04x', int rand 65536 } 1 .. 8;
}

sub _snow_create {
    my ($self, $store, $call) = @_;
    my ($name) = @{ $call->{captures} };
    my $table = _snow_table($store, $name)
        or return _system_error('servicenow', 400, "Invalid table $name");
    my $sys_id = _random_sys_id();
    my $record = { sys_id => $sys_id, _seq => $store->{servicenow}{next_seq}++,
                   state => '1', impact => '3',
                   urgency => '3', priority => '5', assigned_to => '',
                   short_description => '', description => '',
                   close_code => '', close_notes => '',
                   sys_created_on => _snow_time(time),
                   sys_created_by => 'mock.user' };
    $record->{number} = sprintf 'INC%07d',
                                $store->{servicenow}{next_number}++
        if $name eq 'incident';
    my %fields = %{ $call->{body} };
    $fields{impact} //= $record->{impact};
    if (my $error = $self->_snow_apply($store, $name, $record, \%fields)) {
        return $error;
    }
    $table->{$sys_id} = $record;
    return _api_response(201, { result => $self->_snow_format(
                                    $store, $record, $call->{query}) },
                         Location => $self->url("/api/now/table/$name/"
                                                . $sys_id));
}

sub _snow_update {
    my ($self, $store, $call) = @_;
    my ($name, $sys_id) = @{ $call->{captures} };
    my $table = _snow_table($store, $name)
        or return _system_error('servicenow', 400, "Invalid table $name");
    my $stored = $table->{$sys_id} or return _snow_not_found();
    my $record = { %$stored };
    if (my $error = $self->_snow_apply($store, $name, $record,
                                       $call->{body})) {
        return $error;
    }
    $table->{$sys_id} = $record;
    return _api_response(200, { result => $self->_snow_format(
                                    $store, $record, $call->{query}) });
}

# --- Zendesk -------------------------------------------------------------

sub _zendesk_not_found {
    return _api_response(404, { error => 'RecordNotFound',
                                description => 'Not found' });
}

sub _zendesk_invalid {
    my (%details) = @_;
    return _api_response(422, {
        error => 'RecordInvalid', description => 'Record validation errors',
        details => { map { $_ => [ { description => $details{$_},
                                     error => 'InvalidValue' } ] }
                     keys %details } });
}

sub _zendesk_ticket_json {
    my ($self, $ticket) = @_;
    my %out = map { $_ => $ticket->{$_} }
              qw(id subject description status priority assignee_id
                 requester_id);
    $out{url} = $self->url("/api/v2/tickets/$ticket->{id}.json");
    $out{raw_subject} = $ticket->{subject};
    $out{created_at} = _zendesk_time($ticket->{created_at});
    $out{updated_at} = _zendesk_time($ticket->{updated_at});
    $out{tags} = [];
    return \%out;
}

sub _zendesk_user {
    my ($store, %by) = @_;
    my ($key, $value) = %by;
    my ($user) = grep { defined $value && lc $_->{$key} eq lc $value }
                 @{ $store->{zendesk}{users} };
    return $user;
}

# Apply ticket changes; returns (error response) or (undef, audit events).
sub _zendesk_apply {
    my ($self, $store, $ticket, $changes) = @_;
    my (%errors, @events);

    if (exists $changes->{status}) {
        my $status = $changes->{status} // '';
        $errors{status} = "Status: $status is not valid"
            unless $ZENDESK_STATUS{$status};
    }
    if (exists $changes->{priority} && defined $changes->{priority}) {
        $errors{priority} = "Priority: $changes->{priority} is not valid"
            unless $ZENDESK_PRIORITY{ $changes->{priority} };
    }
    my $assignee;
    if (defined $changes->{assignee_id}) {
        $assignee = _zendesk_user($store, id => $changes->{assignee_id});
        $errors{assignee} = 'Assignee is invalid'
            unless $assignee && $assignee->{role} ne 'end-user';
    }
    elsif (defined $changes->{assignee_email}) {
        $assignee = _zendesk_user($store, email => $changes->{assignee_email});
        $errors{assignee} = 'Assignee is invalid'
            unless $assignee && $assignee->{role} ne 'end-user';
    }
    my $comment = $changes->{comment};
    if (defined $comment) {
        $errors{comment} = 'Comment: body is required'
            unless ref $comment eq 'HASH' && ($comment->{body} // '') =~ /\S/;
    }
    return _zendesk_invalid(%errors) if %errors;

    my $event_id = \$store->{zendesk}{next_event};
    for my $field (qw(status priority)) {
        next unless exists $changes->{$field};
        push @events, { id => $$event_id++, type => 'Change',
                        field_name => $field,
                        value => $changes->{$field},
                        previous_value => $ticket->{$field} };
        $ticket->{$field} = $changes->{$field};
    }
    if ($assignee) {
        push @events, { id => $$event_id++, type => 'Change',
                        field_name => 'assignee_id',
                        value => '' . $assignee->{id},
                        previous_value => defined $ticket->{assignee_id}
                                          ? '' . $ticket->{assignee_id}
                                          : undef };
        $ticket->{assignee_id} = $assignee->{id};
    }
    if (defined $comment) {
        my $public = exists $comment->{public}
                     ? ($comment->{public} ? 1 : 0) : 1;
        my $entry = { id => $$event_id++, body => $comment->{body},
                      public => $public ? JSON::PP::true : JSON::PP::false,
                      author_id => 1234567, created_at => time };
        push @{ $ticket->{comments} }, $entry;
        my %event = (%$entry, type => 'Comment',
                     html_body => "<p>$comment->{body}</p>",
                     plain_body => $comment->{body});
        delete $event{created_at};
        push @events, \%event;
    }
    # An agent's update takes a new ticket out of status new.
    $ticket->{status} = 'open'
        if $ticket->{status} eq 'new' && !exists $changes->{status};
    $ticket->{updated_at} = time;
    return (undef, \@events);
}

sub _zendesk_audit {
    my ($store, $ticket, $events) = @_;
    return { id => $store->{zendesk}{next_event}++,
             ticket_id => $ticket->{id}, author_id => 1234567,
             created_at => _zendesk_time($ticket->{updated_at}),
             events => $events };
}

sub _zendesk_create {
    my ($self, $store, $call) = @_;
    my $fields = $call->{body}{ticket};
    return _api_response(400, { error => 'InvalidEndpoint',
                                description => 'Expected a ticket object' })
        unless ref $fields eq 'HASH';
    my $comment = $fields->{comment};
    return _zendesk_invalid(description => 'Description: cannot be blank')
        unless ref $comment eq 'HASH' && ($comment->{body} // '') =~ /\S/;
    my $id = $store->{zendesk}{next_id}++;
    my $ticket = { id => $id, subject => $fields->{subject}
                                         // substr($comment->{body}, 0, 50),
                   description => $comment->{body}, status => 'new',
                   priority => undef, assignee_id => undef,
                   requester_id => 1234567, created_at => time,
                   updated_at => time, comments => [] };
    my %changes = map { exists $fields->{$_} ? ($_ => $fields->{$_}) : () }
                  qw(status priority assignee_id assignee_email);
    $changes{comment} = $comment;
    my ($error, $events) = $self->_zendesk_apply($store, $ticket, \%changes);
    return $error if $error;
    $ticket->{status} = $fields->{status} // 'new';
    $store->{zendesk}{tickets}{$id} = $ticket;
    return _api_response(201, {
        ticket => $self->_zendesk_ticket_json($ticket),
        audit => _zendesk_audit($store, $ticket, $events) },
        Location => $self->url("/api/v2/tickets/$id.json"));
}

sub _zendesk_get {
    my ($self, $store, $call) = @_;
    my $ticket = $store->{zendesk}{tickets}{ $call->{captures}[0] }
        or return _zendesk_not_found();
    return _api_response(200, { ticket => $self->_zendesk_ticket_json(
                                    $ticket) });
}

sub _zendesk_update {
    my ($self, $store, $call) = @_;
    my $ticket = $store->{zendesk}{tickets}{ $call->{captures}[0] }
        or return _zendesk_not_found();
    my $changes = $call->{body}{ticket};
    return _api_response(400, { error => 'InvalidEndpoint',
                                description => 'Expected a ticket object' })
        unless ref $changes eq 'HASH';
    return _zendesk_invalid(status => 'Status: closed prevents ticket '
                            . 'update') if $ticket->{status} eq 'closed';
    my $copy = $wire->decode($wire->encode($ticket));
    my ($error, $events) = $self->_zendesk_apply($store, $copy, $changes);
    return $error if $error;
    $store->{zendesk}{tickets}{ $ticket->{id} } = $copy;
    return _api_response(200, {
        ticket => $self->_zendesk_ticket_json($copy),
        audit => _zendesk_audit($store, $copy, $events) });
}

sub _zendesk_list {
    my ($self, $store, $call) = @_;
    my $q = $call->{query};
    my $size = $q->{'page[size]'} // 100;
    return _api_response(400, { error => 'InvalidPaginationParameter',
                                description => 'page[size] must be between '
                                               . '1 and 100' })
        if $size !~ /^\d+$/ || $size < 1 || $size > 100;
    my $offset = 0;
    if (defined $q->{'page[after]'}) {
        $offset = _page_offset($q->{'page[after]'});
        return _api_response(400, { error => 'InvalidPaginationParameter',
                                    description => 'Invalid cursor' })
            unless defined $offset;
    }
    $size = $self->{max_page_size} if $size > $self->{max_page_size};
    my $sort = $q->{sort} // 'id';
    my ($key) = $sort =~ /^-?(id|updated_at|created_at)$/
        or return _api_response(400, { error => 'InvalidPaginationParameter',
                                       description => "sort $sort is not "
                                                      . 'supported' });
    my @all = sort { $a->{$key} <=> $b->{$key} || $a->{id} <=> $b->{id} }
              values %{ $store->{zendesk}{tickets} };
    @all = reverse @all if $sort =~ /^-/;
    my @page = _slice(\@all, $offset, $size);
    my $more = $offset + $size < @all;
    my $after = $more ? _page_token($offset + $size) : undef;
    my $next;
    if ($more) {
        $next = URI->new($self->url('/api/v2/tickets.json'));
        $next->query_form('page[size]' => $size, 'page[after]' => $after,
                          sort => $sort);
    }
    return _api_response(200, {
        tickets => [ map { $self->_zendesk_ticket_json($_) } @page ],
        meta => { has_more => $more ? JSON::PP::true : JSON::PP::false,
                  after_cursor => $after,
                  before_cursor => $offset ? _page_token($offset) : undef },
        links => { next => defined $next ? "$next" : undef, prev => undef },
    });
}

sub _zendesk_search {
    my ($self, $store, $call) = @_;
    my $q = $call->{query};
    my $query = $q->{query} // '';
    my (%status, @assignees, $type_ok);

    while ($query =~ /(\w+):(?:"([^"]*)"|(\S+))/g) {
        my ($name, $value) = (lc $1, defined $2 ? $2 : $3);
        if ($name eq 'type') {
            $type_ok = lc $value eq 'ticket';
        }
        elsif ($name eq 'status') {
            $status{ lc $value } = 1;
        }
        elsif ($name eq 'assignee') {
            push @assignees, $value;
        }
    }
    return _api_response(400, { error => 'InvalidSearch',
                                description => 'Only type:ticket searches '
                                               . 'are supported by the '
                                               . 'mock' })
        unless $type_ok;
    my @ids = map {
        my $v = $_;
        my $user = $v eq 'me' ? _zendesk_user($store, id => 1234567)
                 : $v =~ /^\d+$/ ? _zendesk_user($store, id => $v)
                 : _zendesk_user($store, email => $v)
                   // _zendesk_user($store, name => $v);
        $user ? $user->{id} : -1
    } @assignees;
    my @found = grep {
        my $t = $_;
        (!%status || $status{ $t->{status} })
        && (!@ids || grep { ($t->{assignee_id} // 0) == $_ } @ids)
    } values %{ $store->{zendesk}{tickets} };
    my $desc = ($q->{sort_order} // 'desc') eq 'desc';
    @found = sort { $a->{created_at} <=> $b->{created_at}
                    || $a->{id} <=> $b->{id} } @found;
    @found = reverse @found if $desc;
    my $per_page = $q->{per_page} // 100;
    $per_page = 100 if $per_page > 100;
    my $page = $q->{page} // 1;
    my $start = ($page - 1) * $per_page;
    my @slice = _slice(\@found, $start, $per_page);
    my $next;
    if ($start + $per_page < @found) {
        $next = URI->new($self->url('/api/v2/search.json'));
        $next->query_form(%$q, page => $page + 1);
    }
    return _api_response(200, {
        results => [ map { { %{ $self->_zendesk_ticket_json($_) },
                             result_type => 'ticket' } } @slice ],
        count => scalar @found, facets => undef,
        next_page => defined $next ? "$next" : undef,
        previous_page => undef,
    });
}

sub _help_center_search {
    my ($self, $store, $call) = @_;
    my $query = $call->{query}{query};
    return _api_response(400, { error => 'InvalidParameter',
                                description => 'query is required' })
        unless defined $query && $query =~ /\S/;
    my $per_page = $call->{query}{per_page} // 25;
    my @words = map { lc } split ' ', $query;
    my @hits = grep {
        my $text = lc "$_->{title} $_->{body}";
        !grep { index($text, $_) < 0 } @words
    } @{ $store->{zendesk}{articles} };
    @hits = @hits[0 .. $per_page - 1] if @hits > $per_page;
    my @results = map {
        my $snippet = $_->{body} =~ s/<[^>]*>//gr;
        for my $word (@words) {
            $snippet =~ s/(\Q$word\E)/<em>$1<\/em>/gi;
        }
        { id => $_->{id}, title => $_->{title}, body => $_->{body},
          snippet => $snippet, locale => 'en-us',
          url => $self->url("/api/v2/help_center/en-us/articles/$_->{id}"
                            . '.json'),
          html_url => $self->url("/hc/en-us/articles/$_->{id}") }
    } @hits;
    return _api_response(200, { results => \@results, page => 1,
                                per_page => $per_page + 0, page_count => 1,
                                count => scalar @results, next_page => undef,
                                previous_page => undef });
}

package ItsmMock::TLSConnection;

# IO::Socket::SSL first, so that reads and writes go through TLS.
our @ISA = ('IO::Socket::SSL', 'HTTP::Daemon::ClientConn');

1;
