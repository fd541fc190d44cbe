# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Helpers for the tests of /api/integration: request bodies, calls on the
# virtual hosts of t/conf/extra.conf.in, the test database through the
# sqlite3 command-line tool, the server's error log, and counts of secret
# values in a text. Nothing here prints a secret.

package ItsmIntegration;

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use Apache::Test ();
use Apache::TestRequest ();
use ItsmTest qw(api var_dir);
use ItsmMock ();

our @EXPORT = qw(integration_body create_integration on_vhost sql
                 sql_quote error_log_text count_secrets unique_name
                 http_basic default_mock);

my $counter = 0;
my $default_mock;

# Returns a mock service shared by the integrations of this test file that
# need no mock of their own. Every base URL in the tests points to a mock
# on 127.0.0.1, so that no probe, by a test or in the background, leaves
# the machine.
sub default_mock {
    $default_mock //= ItsmMock->start(workers => 2);
    return $default_mock;
}

# Returns a name no other integration of this test run has.
sub unique_name {
    my ($tag) = @_;
    $counter++;
    return sprintf '%s %d-%d', $tag // 'Integration', $$, $counter;
}

# Returns a valid create body: a Jira integration with auth type none on
# $opt{baseUrl} (default: the URL of default_mock). Other options replace
# top-level members; `auth` replaces config.auth, `options` and
# `caCertificate` set those config members.
sub integration_body {
    my (%opt) = @_;
    my $config = {
        baseUrl => delete $opt{baseUrl} // default_mock()->url,
        auth    => delete $opt{auth} // { type => 'none' },
    };
    for my $member (qw(options caCertificate)) {
        $config->{$member} = delete $opt{$member} if exists $opt{$member};
    }
    return {
        name        => unique_name(),
        description => 'Created by the integration tests',
        type        => 'jira',
        config      => $config,
        endpoints   => [ { name => 'getTickets',
                           path => '/rest/api/3/search', method => 'GET' } ],
        %opt,
    };
}

# Creates an integration with $token and returns its JSON form (data);
# dies unless the server answers 201.
sub create_integration {
    my ($token, %opt) = @_;
    my $res = api(POST => 'integration', token => $token,
                  json => integration_body(%opt));
    die "creating an integration failed: HTTP $res->{status} "
        . ($res->{json}{message} // '') . "\n"
        unless $res->{status} == 201;
    return $res->{json}{data};
}

# Runs $code with requests sent to the virtual host $name of
# t/conf/extra.conf.in, and returns what $code returns.
sub on_vhost {
    my ($name, $code) = @_;
    my $saved = Apache::TestRequest::module();
    Apache::TestRequest::module($name);
    my @result = eval { $code->() };
    my $error = $@;
    Apache::TestRequest::module($saved // 'default');
    die $error if $error;
    return wantarray ? @result : $result[0];
}

# Quotes a value as an SQL string literal.
sub sql_quote {
    my ($value) = @_;
    $value =~ s/'/''/g;
    return "'$value'";
}

# Runs SQL on the live test database with the sqlite3 tool and returns its
# output lines, columns separated by "|". Dies when sqlite3 fails. A busy
# timeout lets the statement wait for the server's own writes.
sub sql {
    my ($statement) = @_;
    my $db = var_dir() . '/itsm.db';
    open my $pipe, '-|', 'sqlite3', '-batch', '-cmd', '.timeout 5000',
        $db, $statement
        or die "cannot run sqlite3: $!\n";
    my @lines = <$pipe>;
    close $pipe or die "sqlite3 failed on the test database (status $?)\n";
    chomp @lines;
    return @lines;
}

# Returns the server's error log as one string.
sub error_log_text {
    my $vars = Apache::Test::vars();
    my $path = "$vars->{t_logs}/error_log";
    open my $fh, '<', $path or die "cannot read $path: $!\n";
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

# Returns how many of @secrets occur in $text. Tests compare the count, so
# a failure never prints a secret.
sub count_secrets {
    my ($text, @secrets) = @_;
    return scalar grep { index($text // '', $_) >= 0 } @secrets;
}

# Returns the base64 credentials of an HTTP Basic header, the form in which
# a user name and password would travel.
sub http_basic {
    my ($user, $password) = @_;
    require MIME::Base64;
    return MIME::Base64::encode_base64("$user:$password", '');
}

1;
