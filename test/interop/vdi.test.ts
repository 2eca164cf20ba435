/** Reading every kind of vdi image qemu-img makes, as qemu-img reads it. */
import { smallFixtures } from './small-formats-fixtures.ts';
import { describeReads } from './small-formats-support.ts';

describeReads(smallFixtures('vdi'), true);
