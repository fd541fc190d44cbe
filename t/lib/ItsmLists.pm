# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Helpers for the tests of API keys, the audit log and paged lists. Each
# function takes a server first: undef for the main Apache::Test server,
# or an ItsmServer object for a server of the test's own. Nothing here
# prints a key, a token or a password.

package ItsmLists;

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use IPC::Open2 ();
use POSIX ();
use Time::HiRes ();
use URI::Escape qw(uri_escape_utf8);
use ItsmTest ();

our @EXPORT = qw(call admin_of create_key key_parts all_pages audit_rows
                 iso_time db_dump blake2b_256_hex module_file
                 user_with_password);

# Sends a request to $server (see the header) with the arguments of
# ItsmTest::api and returns its result hashref.
sub call {
    my ($server, @args) = @_;
    return $server ? $server->api(@args) : ItsmTest::api(@args);
}

# Returns a token of the bootstrap admin of $server.
sub admin_of {
    my ($server) = @_;
    return $server ? $server->login_admin : ItsmTest::admin_token();
}

# POSTs /api/auth/api-keys with the members of %body and $token (default:
# the bootstrap admin) and returns the result of call().
sub create_key {
    my ($server, $token, %body) = @_;
    $body{name} //= 'test key';
    return call($server, POST => 'auth/api-keys',
                token => $token // admin_of($server), json => \%body);
}

# Splits a key of the form itsm_<id>_<secret>; returns (id, secret), or an
# empty list when $key has another form.
sub key_parts {
    my ($key) = @_;
    return () unless defined $key
                     && $key =~ /\Aitsm_([0-9a-f]{24})_([A-Za-z0-9_-]{43})\z/;
    return ($1, $2);
}

# Requests GET /api/$path with %query and follows nextCursor to the last
# page. Returns (\@items, \@pages), where each page is the decoded
# response; dies on a status other than 200 or after 1000 pages. The
# option between => CODE runs after each page except the last, with the
# page's decoded response.
sub all_pages {
    my ($server, $token, $path, %query) = @_;
    my $between = delete $query{between};
    my (@items, @pages);
    my $cursor;
    for (1 .. 1000) {
        my %q = %query;
        $q{cursor} = $cursor if defined $cursor;
        my $url = $path;
        my $text = join '&',
            map { "$_=" . uri_escape_utf8($q{$_}) } sort keys %q;
        $url .= ($url =~ /\?/ ? '&' : '?') . $text if length $text;
        my $res = call($server, GET => $url, token => $token);
        die "GET $path failed: HTTP $res->{status}\n"
            unless $res->{status} == 200;
        push @pages, $res->{json};
        push @items, @{ $res->{json}{data} // [] };
        $cursor = $res->{json}{nextCursor};
        return (\@items, \@pages) unless defined $cursor;
        $between->($res->{json}) if $between;
    }
    die "GET $path: more than 1000 pages\n";
}

# Returns every audit row that matches the filters %filter (actor, action,
# targetType, target, from, to), newest first.
sub audit_rows {
    my ($server, %filter) = @_;
    my ($rows) = all_pages($server, admin_of($server), 'audit',
                           limit => 1000, %filter);
    return @$rows;
}

# Creates a user on $server with a known password and returns { id,
# email, password, role }. Options: role (default user), tag (the start
# of the e-mail address).
my $user_counter = 0;
sub user_with_password {
    my ($server, %opt) = @_;
    my $role = $opt{role} // 'user';
    $user_counter++;
    my $email = sprintf '%s-%d-%d-%d@example.com', $opt{tag} // $role, $$,
        time, $user_counter;
    my $password = 'pw-' . unpack('H*', pack('N2', rand 2**32, rand 2**32));
    my $res = call($server, POST => 'users', token => admin_of($server),
                   json => { firstName => 'Test', lastName => ucfirst $role,
                             email => $email, password => $password,
                             role => $role });
    die "creating a $role failed: HTTP $res->{status}\n"
        unless $res->{status} == 201;
    return { id => $res->{json}{data}{_id}, email => $email,
             password => $password, role => $role };
}

# Returns the path of the httpd module file $name (mod_unique_id.so) in
# apxs's LIBEXECDIR.
sub module_file {
    my ($name) = @_;
    my $apxs = $ENV{APXS} || 'apxs';
    chomp(my $dir = `$apxs -q LIBEXECDIR 2>/dev/null` // '');
    die "apxs -q LIBEXECDIR gave nothing\n" unless length $dir;
    return "$dir/$name";
}

# Formats a Unix time in seconds, with fractions, as the API writes times:
# 2030-01-31T00:00:00.000Z.
sub iso_time {
    my ($t) = @_;
    my $ms = int(($t - int $t) * 1000);
    return POSIX::strftime('%Y-%m-%dT%H:%M:%S', gmtime int $t)
        . sprintf('.%03dZ', $ms);
}

# Returns the whole SQLite database at $path as SQL text (sqlite3 .dump),
# to search for values that must not be stored.
sub db_dump {
    my ($path) = @_;
    open my $pipe, '-|', 'sqlite3', '-batch', '-cmd', '.timeout 5000',
        $path, '.dump'
        or die "cannot run sqlite3: $!\n";
    local $/;
    my $text = <$pipe>;
    close $pipe or die "sqlite3 .dump failed (status $?)\n";
    return $text // '';
}

# Returns the hex BLAKE2b-256 digest of $text, computed by coreutils b2sum
# from its standard input, so that the text never reaches a file or a
# command line.
sub blake2b_256_hex {
    my ($text) = @_;
    my $pid = IPC::Open2::open2(my $out, my $in, 'b2sum', '-l', '256');
    print {$in} $text;
    close $in;
    my $line = <$out> // '';
    waitpid $pid, 0;
    die "b2sum failed (status $?)\n" if $?;
    my ($hex) = $line =~ /\A([0-9a-f]{64})\b/;
    return $hex // '';
}

1;
