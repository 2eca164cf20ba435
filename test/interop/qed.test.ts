/** Reading every kind of qed image qemu-img makes, as qemu-img reads it. */
import { smallFixtures } from './small-formats-fixtures.ts';
import { describeReads } from './small-formats-support.ts';

describeReads(smallFixtures('qed'), true);
