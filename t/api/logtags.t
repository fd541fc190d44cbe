# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Each log tag ITSMnnnnn names one message, so that operators and tests can
# search the error log for it: no number may be used twice, and each has
# five digits.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use File::Basename qw(dirname);

my $src = dirname(Apache::Test::vars()->{t_dir}) . '/mod_itsm';
my (%seen, @bad, @repeated);
for my $file (glob "$src/*.c") {
    open my $fh, '<', $file or die "cannot read $file: $!";
    while (my $line = <$fh>) {
        while ($line =~ /ITSM_LOGNO\(([^)]*)\)/g) {
            my $tag = $1;
            push @bad, "$file: $tag" unless $tag =~ /^\d{5}$/;
            push @repeated, $tag if $seen{$tag}++;
        }
    }
    close $fh;
}

plan tests => 3;

ok t_cmp(scalar(keys %seen) > 40 ? 1 : 0, 1, 'log tags are found');
ok t_cmp(join(', ', @bad), '', 'log tags have five digits');
ok t_cmp(join(', ', @repeated), '', 'log tags are unique');
