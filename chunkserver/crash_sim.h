/*
 * Crash-simulating I/O backend (configure --enable-crash-sim, test builds
 * only), in the manner of SQLite's crash-test VFS.  aio.c hands every
 * request to it instead of io_submit() when SHOAL_CRASH_SIM is defined.
 *
 * Why: kill -9 of a normal chunkserver loses nothing a power cut would
 * lose, because requests already in the kernel complete and the page cache
 * survives the process.  Here nothing reaches the file before the backend
 * says so, and the backend lives in process memory, so kill -9 loses
 * exactly the writes that were not yet durable:
 *
 *   submitted --(random 0.2..SHOAL_CRASH_SIM_MAX_US µs)--> due
 *   due, read          pread + overlay of unflushed writes, complete
 *   due, write+DSYNC   stage 1: a random subset of its 512-byte sectors is
 *                      applied; stage 2 (a little later): the rest, then
 *                      complete (durable)
 *   due, plain write   complete, but the data stays in the unflushed list
 *   due, fdatasync     applies every unflushed write of that fd in the same
 *                      two torn stages, then completes; a device flush
 *                      (cs_aio_flush_device) those of every fd on the same
 *                      filesystem
 *
 * A kill at any point thus drops pending writes or leaves them torn at
 * sector granularity, and never loses a write that completed as durable.
 * Sectors are applied through a buffered descriptor of the same file, which
 * survives kill -9 like a disk that got the sector.
 */
#ifndef SHOAL_CS_CRASH_SIM_H
#define SHOAL_CS_CRASH_SIM_H

#include <stdint.h>

struct cs_aio_req;
struct sl_loop;
struct cs_csim;

struct cs_csim *cs_csim_new(void);
void cs_csim_free(struct cs_csim *s);
/* On loop, kick(arg) runs when work falls due (it reaps); loop NULL: detach. */
void cs_csim_attach(struct cs_csim *s, struct sl_loop *loop, void (*kick)(void *arg), void *arg);
/* r->iocb is prepared (pread, pwrite or fdsync); r->done runs later. */
void cs_csim_submit(struct cs_csim *s, struct cs_aio_req *r);
/* Runs what is due; completions call r->done.  *errors += failed ones. */
int cs_csim_pump(struct cs_csim *s, uint64_t *errors);
unsigned int cs_csim_pending(const struct cs_csim *s);
/* Microseconds until the next request falls due (0: now or nothing pending). */
uint64_t cs_csim_wait_us(const struct cs_csim *s);

#endif
