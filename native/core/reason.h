// Every reason a core call can fail for, or a scan can note damage for: a stable name (what
// crosses into JavaScript, e.g. "record-checksum") and the StatusCode it belongs to. A Status
// carries one reason and the facts it refers to (status.h); the core writes no prose. The
// wording of each reason lives once, in src/transit/reasons.ts, which both paths go through,
// and a test proves that list and this one hold the same names with the same codes.
//
// One line per reason: X(enumerator, "name", StatusCode enumerator). The comment after it
// names the details the reason comes with.
#ifndef TAPIO_CORE_REASON_H_
#define TAPIO_CORE_REASON_H_

#include <cstddef>

namespace tapio {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kIoError,
  kCorrupt,
  kTooLarge,
  kClosed,
  kFormatVersion,
  kInternal,
};

#define TAPIO_REASONS(X)                                                                                      \
  /* Resources and system calls. */                                                                           \
  X(kIo, "io", kIoError)                         /* operation, file, errno */                                 \
  X(kOutOfMemory, "out-of-memory", kIoError)     /* what, bytes; file */                                      \
  X(kRandomFailed, "random-failed", kIoError)    /* (none) */                                                 \
  X(kNotADirectory, "not-a-directory", kIoError) /* dir */                                                    \
  X(kFileShrank, "file-shrank", kIoError)        /* file, offset */                                           \
  X(kWriterFailed, "writer-failed", kIoError)    /* cause and its details */                                  \
  X(kLockReleased, "lock-released", kClosed)     /* file */                                                   \
  X(kFileClosed, "file-closed", kClosed)         /* file */                                                   \
  /* Direct I/O: why it is not used, and why 'on' cannot be honoured. */                                      \
  X(kDirectIoOff, "direct-io-off", kIoError)                 /* (none) */                                     \
  X(kDirectIoRefused, "direct-io-refused", kIoError)         /* operation, file, errno */                     \
  X(kDirectWriteFailed, "direct-write-failed", kIoError)     /* operation, file, errno */                     \
  X(kDirectIoAlignment, "direct-io-alignment", kIoError)     /* alignment */                                  \
  X(kDirectIoUnavailable, "direct-io-unavailable", kIoError) /* dir, cause and its details */                 \
  /* Arguments below the API edge (the facade validated them first). */                                       \
  X(kWriterOption, "writer-option", kInvalidArgument)        /* option, value */                              \
  X(kResumePoint, "resume-point", kInvalidArgument)          /* segment, segmentSize, offset */               \
  X(kRingCapacity, "ring-capacity", kInvalidArgument)        /* capacity */                                   \
  X(kAppendOffset, "append-offset", kInvalidArgument)        /* file, offset */                               \
  X(kRecoveryDir, "recovery-dir", kInvalidArgument)          /* (none) */                                     \
  X(kSyncProbeOption, "sync-probe-option", kInvalidArgument) /* option, value, max */                         \
  X(kSyncProbeFile, "sync-probe-file", kInvalidArgument)     /* fileBytes, writeBytes */                      \
  X(kSyncProbeMode, "sync-probe-mode", kInternal)            /* (none) */                                     \
  /* Damage in a segment header (CheckSegmentHeader). */                                                      \
  X(kHeaderIncomplete, "header-incomplete", kCorrupt)      /* available, expected */                          \
  X(kBadMagic, "bad-magic", kCorrupt)                      /* (none) */                                       \
  X(kFormatVersion, "format-version", kFormatVersion)      /* version, expected */                            \
  X(kHeaderChecksum, "header-checksum", kCorrupt)          /* stored, computed */                             \
  X(kHeaderUsed, "header-used", kCorrupt)                  /* used, expected */                               \
  X(kSegmentNumberRange, "segment-number-range", kCorrupt) /* (none) */                                       \
  X(kFirstSeqRange, "first-seq-range", kCorrupt)           /* (none) */                                       \
  X(kCreatedRange, "created-range", kCorrupt)              /* (none) */                                       \
  X(kSegmentSize, "segment-size", kCorrupt)                /* segmentSize */                                  \
  /* Damage in a record (SegmentScanner::ReadRecord). */                                                      \
  X(kPartialHeader, "partial-header", kCorrupt)   /* left */                                                  \
  X(kRecordLength, "record-length", kCorrupt)     /* length, left */                                          \
  X(kSeqZero, "seq-zero", kCorrupt)               /* (none) */                                                \
  X(kSeqRange, "seq-range", kCorrupt)             /* (none) */                                                \
  X(kRecordChecksum, "record-checksum", kCorrupt) /* stored, computed */                                      \
  /* Damage the recovery scan finds between records and segments. */                                          \
  X(kSeqGap, "seq-gap", kCorrupt)                                  /* expected, found */                      \
  X(kSeqBehind, "seq-behind", kCorrupt)                            /* seq, last */                            \
  X(kBytesAfterEnd, "bytes-after-end", kCorrupt)                   /* (none) */                               \
  X(kHeaderSegment, "header-segment", kCorrupt)                    /* headerSegment, fileSegment */           \
  X(kSegmentBack, "segment-back", kCorrupt)                        /* firstSeq, previous, previousFirstSeq */ \
  X(kCheckpointGap, "checkpoint-gap", kCorrupt)                    /* firstSeq, sealed, lastSeq */            \
  X(kSegmentsMissing, "segments-missing", kCorrupt)                /* missing, previous */                    \
  X(kSegmentGap, "segment-gap", kCorrupt)                          /* firstSeq, previous, previousLastSeq */  \
  X(kCheckpointFirstSeq, "checkpoint-first-seq", kCorrupt)         /* firstSeq, checkpointFirstSeq */         \
  X(kMissingAfterCheckpoint, "missing-after-checkpoint", kCorrupt) /* sealed */                               \
  X(kForeignStore, "foreign-store", kCorrupt)                      /* storeId, walStoreId */                  \
  /* Refusals of an open. A damage reason rides along as "damage" with its details, plus */                   \
  /* "validAt" (valid records follow there) or "olderSegment" (not the newest: no torn tail). */              \
  X(kSegmentDamaged, "segment-damaged", kCorrupt)       /* segment, file, offset, bytes, damage */            \
  X(kSegmentForeign, "segment-foreign", kCorrupt)       /* as kSegmentDamaged, damage foreign-store */        \
  X(kSegmentVersion, "segment-version", kFormatVersion) /* segment, file, damage format-version */            \
  X(kWalIdNotObject, "wal-id-not-object", kCorrupt)     /* file */                                            \
  X(kWalIdVersion, "wal-id-version", kFormatVersion)    /* file, format, version (as written) */              \
  X(kWalIdStore, "wal-id-store", kCorrupt)              /* file, storeId (as written) */                      \
  X(kWalIdMissing, "wal-id-missing", kCorrupt)          /* file */                                            \
  X(kNotWalDir, "not-wal-dir", kFormatVersion)          /* dir, found */                                      \
  X(kNoReadableHeader, "no-readable-header", kCorrupt)  /* dir */                                             \
  /* Why CHECKPOINT or SALVAGED is not used (the open goes on without it). */                                 \
  X(kSmallFileUnreadable, "small-file-unreadable", kCorrupt)  /* name, errno */                               \
  X(kSmallFileNotObject, "small-file-not-object", kCorrupt)   /* name */                                      \
  X(kSmallFileFormat, "small-file-format", kCorrupt)          /* name */                                      \
  X(kSmallFileNoStore, "small-file-no-store", kCorrupt)       /* name */                                      \
  X(kSmallFileOtherStore, "small-file-other-store", kCorrupt) /* name, storeId, walStoreId */                 \
  X(kCheckpointRange, "checkpoint-range", kCorrupt)           /* (none) */                                    \
  X(kSalvagedStretches, "salvaged-stretches", kCorrupt)       /* (none) */

enum class Reason {
  kNone = 0,  // no failure: an ok Status
#define TAPIO_REASON_ENUM(name, text, code) name,
  TAPIO_REASONS(TAPIO_REASON_ENUM)
#undef TAPIO_REASON_ENUM
};

// The stable name of a reason ("" for kNone).
inline const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kNone:
      return "";
#define TAPIO_REASON_NAME(name, text, code) \
  case Reason::name:                        \
    return text;
      TAPIO_REASONS(TAPIO_REASON_NAME)
#undef TAPIO_REASON_NAME
  }
  return "";
}

// The StatusCode a reason belongs to (kOk for kNone).
inline StatusCode ReasonCode(Reason reason) {
  switch (reason) {
    case Reason::kNone:
      return StatusCode::kOk;
#define TAPIO_REASON_CODE(name, text, code) \
  case Reason::name:                        \
    return StatusCode::code;
      TAPIO_REASONS(TAPIO_REASON_CODE)
#undef TAPIO_REASON_CODE
  }
  return StatusCode::kInternal;
}

}  // namespace tapio

#endif  // TAPIO_CORE_REASON_H_
