# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# A standalone httpd with mod_itsm, for tests that need a server of their
# own: the background health runner is off in the main Apache::Test server,
# because its probes would add requests to the mocks of other tests.
#
#   my $server = ItsmServer->start(directives => [
#       'ITSMHealthCheckInterval 1', 'ITSMHealthFailThreshold 2' ]);
#   my $token = $server->login_admin;
#   my $res = $server->api(GET => 'integration', token => $token);
#   $server->graceful;
#   $server->stop;                    # also done by END
#
# Options of start (all optional):
#   directives  lines added to the configuration, e.g. ITSM directives
#   mpm         event (the default) or prefork
#   processes   child processes to start and keep (default 1)
#   share       another ItsmServer whose database and secret files this
#               server uses, to test servers that share one database
#   log_level   LogLevel value (default "warn itsm:info")
#
# Each server lives in a temporary directory with its configuration, error
# log, SQLite database and secrets: a 48-byte token-signing secret, a
# 32-byte credential key and the bootstrap admin's password, each mode 0600.
# It listens on 127.0.0.1 only. Set ITSM_SERVER_KEEP=1 to keep the
# directory after the test. Nothing here prints a secret.

package ItsmServer;

use strict;
use warnings FATAL => 'all';

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use HTTP::Request ();
use IO::Socket::INET ();
use JSON::PP ();
use LWP::UserAgent ();
use POSIX ();
use Time::HiRes ();

my $json = JSON::PP->new->utf8->canonical->allow_nonref;

# Servers started by this process, stopped by END if a test dies first.
my %running;

# Seconds to wait for httpd to answer after a start or graceful restart,
# and for its processes to exit after a stop.
my $START_TIMEOUT = 30;
my $STOP_TIMEOUT  = 30;

my $ADMIN_EMAIL = 'admin@example.com';

# The t/ folder of the tree; the module is built in ../mod_itsm/.libs.
my $T_DIR = abs_path(dirname(__FILE__) . '/..');

sub start {
    my ($class, %opt) = @_;
    my $self = bless {
        directives => $opt{directives} // [],
        mpm        => $opt{mpm} // 'event',
        processes  => $opt{processes} // 1,
        log_level  => $opt{log_level} // 'warn itsm:info',
        owner      => $$,
    }, $class;

    die "ItsmServer: mpm must be event or prefork\n"
        unless $self->{mpm} =~ /^(?:event|prefork)$/;
    $self->{dir} = tempdir('itsm-server-XXXXXX', TMPDIR => 1,
                           CLEANUP => !$ENV{ITSM_SERVER_KEEP});
    chmod 0700, $self->{dir};
    mkdir "$self->{dir}/run" or die "ItsmServer: cannot create run/: $!\n";
    if ($opt{share}) {
        $self->{var} = $opt{share}{var};
    }
    else {
        $self->{var} = $self->{dir};
        _write_secret("$self->{var}/token-secret", _random_bytes(48));
        _write_secret("$self->{var}/credential-key", _random_bytes(32));
        _write_secret("$self->{var}/admin-password",
                      unpack('H*', _random_bytes(12)) . "\n");
    }
    $self->{port} = _free_port();
    $self->{conf} = "$self->{dir}/httpd.conf";
    _write_file($self->{conf}, $self->_config_text);

    $running{"$self"} = $self;
    my $status = $self->_ctl('start');
    die "ItsmServer: apache2 -k start failed (status $status):\n"
        . $self->_startup_output . "\n" if $status != 0;
    $self->{pid} = $self->_read_pid
        or die "ItsmServer: no PidFile after start:\n"
               . $self->_startup_output . "\n";
    $self->_wait_ready
        or die "ItsmServer: /api/health did not answer within "
               . "$START_TIMEOUT s:\n" . $self->error_log . "\n";
    return $self;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub pid  { $_[0]{pid} }

sub db_path { "$_[0]{var}/itsm.db" }

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}" . ($path // '');
}

# Sends a request to /api/$path (or to $path when it starts with /) and
# returns { status, json, headers, body, type }. Options: token, json (Perl
# data to send), body (raw), type (Content-Type, default
# application/json), headers ({ name => value }).
sub api {
    my ($self, $method, $path, %opt) = @_;
    my $url = $self->url($path =~ m{^/} ? $path : "/api/$path");
    my $req = HTTP::Request->new($method => $url);

    $req->header(Authorization => "Bearer $opt{token}")
        if defined $opt{token};
    my $body = exists $opt{json} ? $json->encode($opt{json}) : $opt{body};
    if (defined $body) {
        $req->header('Content-Type' => $opt{type} // 'application/json');
        $req->content($body);
    }
    $req->header(%{ $opt{headers} }) if $opt{headers};
    $self->{ua} //= LWP::UserAgent->new(max_redirect => 0, timeout => 60);
    my $res = $self->{ua}->request($req);
    return {
        status  => $res->code,
        json    => scalar eval { $json->decode($res->content) },
        headers => $res->headers,
        body    => $res->content,
        type    => scalar $res->header('Content-Type') // '',
    };
}

# Returns a token for $email, or undef when the login fails.
sub login {
    my ($self, $email, $password) = @_;
    my $res = $self->api(POST => 'auth/login',
                         json => { email => $email, password => $password });
    return $res->{status} == 200 ? $res->{json}{token} : undef;
}

# Returns a token of the bootstrap admin, from one login per server.
sub login_admin {
    my ($self) = @_;
    return $self->{admin_token} //= do {
        my $password = _read_file("$self->{var}/admin-password");
        $password =~ s/\s+\z//;
        $self->login($ADMIN_EMAIL, $password)
            or die "ItsmServer: the bootstrap admin cannot log in\n";
    };
}

# Creates a user with the given role (default user) and returns { id,
# email, role, token }.
sub new_user {
    my ($self, %opt) = @_;
    my $role = $opt{role} // 'user';
    $self->{users}++;
    my $email = sprintf '%s-%d-%d@example.com', $role, $$, $self->{users};
    my $password = 'pw-' . unpack('H*', _random_bytes(8)) . '-long';
    my $res = $self->api(POST => 'users', token => $self->login_admin,
                         json => { firstName => 'Test',
                                   lastName => ucfirst $role,
                                   email => $email, password => $password,
                                   role => $role });
    die "ItsmServer: creating a $role failed: HTTP $res->{status}\n"
        unless $res->{status} == 201;
    return { id => $res->{json}{data}{_id}, email => $email, role => $role,
             token => $self->login($email, $password) };
}

# Restarts gracefully (apache2 -k graceful) and waits until the new
# generation answers. Returns 1 on success, 0 otherwise.
sub graceful {
    my ($self) = @_;
    my $log_size = length $self->error_log;
    return 0 if $self->_ctl('graceful') != 0;
    # The parent logs AH00493 (SIGUSR1 received) once it restarts.
    my $deadline = Time::HiRes::time() + $START_TIMEOUT;
    while (Time::HiRes::time() < $deadline) {
        last if substr($self->error_log, $log_size) =~ /AH00493|AH00489/;
        Time::HiRes::sleep(0.1);
    }
    return $self->_wait_ready ? 1 : 0;
}

# Stops the server (apache2 -k stop) and waits for its processes to exit;
# kills them after $STOP_TIMEOUT seconds. Returns 1 when the server
# stopped by itself, 0 when it had to be killed or was not running.
sub stop {
    my ($self) = @_;
    delete $running{"$self"};
    my $pid = delete $self->{pid};
    return 0 unless $pid && $self->{owner} == $$;

    my @processes = ($pid, $self->_children_of($pid));
    $self->_ctl('stop');
    my $deadline = Time::HiRes::time() + $STOP_TIMEOUT;
    while (Time::HiRes::time() < $deadline) {
        return 1 unless grep { kill 0, $_ } @processes;
        Time::HiRes::sleep(0.1);
    }
    kill 'KILL', grep { kill 0, $_ } @processes;
    return 0;
}

sub DESTROY { $_[0]->stop }

END { $_->stop for values %running }

sub error_log {
    my ($self) = @_;
    return _read_file("$self->{dir}/error_log") // '';
}

# Returns the process ids of the server's children.
sub children {
    my ($self) = @_;
    return $self->{pid} ? $self->_children_of($self->{pid}) : ();
}

# Runs SQL on the server's database with the sqlite3 tool and returns the
# output lines, columns separated by "|". Dies when sqlite3 fails.
sub sql {
    my ($self, $statement) = @_;
    open my $pipe, '-|', 'sqlite3', '-batch', '-cmd', '.timeout 5000',
        $self->db_path, $statement
        or die "ItsmServer: cannot run sqlite3: $!\n";
    my @lines = <$pipe>;
    close $pipe or die "ItsmServer: sqlite3 failed (status $?)\n";
    chomp @lines;
    return @lines;
}

# ---------------------------------------------------------------------------

sub _apxs_query {
    my ($name) = @_;
    my $apxs = $ENV{APXS} || 'apxs';
    chomp(my $value = `$apxs -q $name 2>/dev/null` // '');
    return $value;
}

sub _httpd_binary {
    my $sbin = _apxs_query('SBINDIR');
    my $target = _apxs_query('TARGET') || 'apache2';
    return "$sbin/$target" if $sbin && -x "$sbin/$target";
    for my $dir (split /:/, $ENV{PATH} // '') {
        return "$dir/apache2" if -x "$dir/apache2";
    }
    die "ItsmServer: apache2 not found (apxs -q SBINDIR, PATH)\n";
}

sub _config_text {
    my ($self) = @_;
    my $dir = $self->{dir};
    my $var = $self->{var};
    my $libexec = _apxs_query('LIBEXECDIR')
        or die "ItsmServer: apxs -q LIBEXECDIR gave nothing\n";
    my $module = "$T_DIR/../mod_itsm/.libs/mod_itsm.so";
    die "ItsmServer: $module is missing; run make first\n" unless -e $module;
    my $n = $self->{processes};
    my $mpm = $self->{mpm} eq 'prefork'
        ? "LoadModule mpm_prefork_module $libexec/mod_mpm_prefork.so\n"
          . "StartServers $n\nMinSpareServers $n\nMaxSpareServers $n\n"
          . "ServerLimit $n\nMaxRequestWorkers $n\n"
        : "LoadModule mpm_event_module $libexec/mod_mpm_event.so\n"
          . "StartServers $n\nServerLimit $n\nThreadsPerChild 8\n"
          . "MinSpareThreads 1\nMaxSpareThreads " . (8 * $n) . "\n"
          . "MaxRequestWorkers " . (8 * $n) . "\n";
    my $directives = join "\n", @{ $self->{directives} };

    return <<"CONF";
# Written by t/lib/ItsmServer.pm for one test.
ServerName 127.0.0.1
ServerRoot $dir
Listen 127.0.0.1:$self->{port}
PidFile $dir/httpd.pid
DefaultRuntimeDir $dir/run
ErrorLog $dir/error_log
LogLevel $self->{log_level}
GracefulShutdownTimeout 30

$mpm
LoadModule authz_core_module $libexec/mod_authz_core.so
LoadModule dbd_module $libexec/mod_dbd.so
LoadModule itsm_module $module

DBDriver sqlite3
DBDParams $var/itsm.db
DBDMin 1
DBDKeep 2
DBDMax 4

ITSMTokenSecretFile $var/token-secret
ITSMCredentialKeyFile $var/credential-key
ITSMBootstrapAdmin $ADMIN_EMAIL $var/admin-password
# The mocks of the tests listen on 127.0.0.1.
ITSMAllowPrivateTargets On
$directives

DocumentRoot $dir/run
<Location />
    Require all denied
</Location>
<Location /api>
    SetHandler itsm-api
    LimitRequestBody 65536
    Require all granted
</Location>
CONF
}

# Runs apache2 -f conf -k $command; its output goes to startup.log.
# Returns the exit status.
sub _ctl {
    my ($self, $command) = @_;
    my $pid = fork;
    die "ItsmServer: fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/startup.log";
        open STDERR, '>&', \*STDOUT;
        exec(_httpd_binary(), '-f', $self->{conf}, '-k', $command)
            or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return $? >> 8;
}

sub _startup_output {
    my ($self) = @_;
    return (_read_file("$self->{dir}/startup.log") // '')
        . $self->error_log;
}

sub _read_pid {
    my ($self) = @_;
    my $deadline = Time::HiRes::time() + $START_TIMEOUT;
    while (Time::HiRes::time() < $deadline) {
        my $text = _read_file("$self->{dir}/httpd.pid");
        return $1 if defined $text && $text =~ /^(\d+)/;
        Time::HiRes::sleep(0.1);
    }
    return undef;
}

sub _wait_ready {
    my ($self) = @_;
    my $deadline = Time::HiRes::time() + $START_TIMEOUT;
    while (Time::HiRes::time() < $deadline) {
        return 1 if $self->api(GET => 'health')->{status} == 200;
        Time::HiRes::sleep(0.1);
    }
    return 0;
}

sub _children_of {
    my ($self, $parent) = @_;
    my @children;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $text = _read_file($stat) // next;
        # The command name in brackets may contain spaces.
        next unless $text =~ /^(\d+) \(.*\) \S+ (\d+) /s;
        push @children, $1 if $2 == $parent;
    }
    return @children;
}

sub _free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'tcp',
                                     Listen => 1, ReuseAddr => 1)
        or die "ItsmServer: cannot find a free port: $!\n";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

sub _random_bytes {
    my ($n) = @_;
    open my $fh, '<', '/dev/urandom'
        or die "ItsmServer: cannot read /dev/urandom: $!\n";
    read($fh, my $buf, $n) == $n
        or die "ItsmServer: short read from /dev/urandom\n";
    close $fh;
    return $buf;
}

sub _write_secret {
    my ($path, $bytes) = @_;
    my $old = umask 077;
    _write_file($path, $bytes);
    umask $old;
    chmod 0600, $path;
}

sub _write_file {
    my ($path, $data) = @_;
    open my $fh, '>', $path or die "ItsmServer: cannot write $path: $!\n";
    binmode $fh;
    print $fh $data;
    close $fh or die "ItsmServer: cannot write $path: $!\n";
}

sub _read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}

1;
