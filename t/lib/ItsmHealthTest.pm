# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Helpers for the tests of the background health runner (t/health): polling
# with a deadline, integrations whose probe goes to a path of an ItsmMock,
# and the arrival times of those probes at the mock.

package ItsmHealthTest;

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use JSON::PP ();
use Time::HiRes ();

our @EXPORT = qw(wait_until create_probe_target probe_times gaps
                 health_of min_of max_of);

my $counter = 0;

# Calls $code every 0.1 s until it returns a true value or $seconds pass.
# Returns that value, or undef on timeout.
sub wait_until {
    my ($seconds, $code) = @_;
    my $deadline = Time::HiRes::time() + $seconds;
    while (1) {
        my $value = $code->();
        return $value if $value;
        return undef if Time::HiRes::time() >= $deadline;
        Time::HiRes::sleep(0.1);
    }
}

# Creates a custom integration on $server whose health probe is GET $path
# (with an optional query) on $mock, and returns its JSON form. Options:
# auth (default { type => 'none' }), isActive, managers, name.
sub create_probe_target {
    my ($server, $token, $mock, $path, %opt) = @_;
    $counter++;
    my $body = {
        name   => $opt{name} // "Probe target $$-$counter",
        type   => 'custom',
        config => { baseUrl => $mock->url,
                    auth    => $opt{auth} // { type => 'none' },
                    options => { healthPath => $path } },
    };
    $body->{isActive} = $opt{isActive} ? JSON::PP::true : JSON::PP::false
        if exists $opt{isActive};
    $body->{managers} = $opt{managers} if $opt{managers};
    my $res = $server->api(POST => 'integration', token => $token,
                           json => $body);
    die "creating an integration failed: HTTP $res->{status} "
        . ($res->{json}{message} // '') . "\n"
        unless $res->{status} == 201;
    return $res->{json}{data};
}

# Returns the sorted arrival times (Time::HiRes seconds) of the requests
# that $mock received for $path_and_query, e.g. "/health?n=1"; in scalar
# context, their count.
sub probe_times {
    my ($mock, $path_and_query) = @_;
    my ($path, $query) = split /\?/, $path_and_query, 2;
    my @times = sort { $a <=> $b }
                map  { $_->{time} }
                grep { $_->{path} eq $path && $_->{query} eq ($query // '') }
                $mock->requests;
    return @times;
}

# Returns the differences between consecutive values.
sub gaps {
    my (@times) = @_;
    return map { $times[$_] - $times[$_ - 1] } 1 .. $#times;
}

sub min_of {
    my ($min) = @_;
    for (@_) { $min = $_ if $_ < $min }
    return $min;
}

sub max_of {
    my ($max) = @_;
    for (@_) { $max = $_ if $_ > $max }
    return $max;
}

# Returns the health object of integration $id, or undef on an error.
sub health_of {
    my ($server, $token, $id) = @_;
    my $res = $server->api(GET => "integration/$id", token => $token);
    return $res->{status} == 200 ? $res->{json}{data}{health} : undef;
}

1;
