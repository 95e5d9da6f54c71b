use strict;
use File::Path qw(make_path);
my $dir = "$ENV{PREFIX}/share/scripted";
make_path($dir);
open(my $out, '>', "$dir/perl.txt") or die "cannot write $dir/perl.txt: $!";
print $out "perl\n";
close($out);
