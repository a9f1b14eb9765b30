// impl/buddy/gfp.hpp — gfp flags, zone types, migratetypes and the allocator's ALLOC_* flags,
// at Linux 6.1's values (Debian 12's kernel).
//
// Synopsis
//   gfp_t, ___GFP_* / __GFP_*     include/linux/gfp_types.h (6.1 layout: __GFP_ATOMIC is 0x200,
//                                 it went away in 6.3).
//   GFP_KERNEL, GFP_ATOMIC, ...   the composite types.
//   zone_type, MAX_NR_ZONES       include/linux/mmzone.h for x86-64 with ZONE_DMA, ZONE_DMA32,
//                                 ZONE_MOVABLE and ZONE_DEVICE configured (Debian's config: its
//                                 /proc/zoneinfo prints five zones and five protection entries).
//   migratetype                   UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC (CMA and ISOLATE are
//                                 not modelled: no CMA area and no isolation in this model).
//   gfp_migratetype(gfp)          include/linux/gfp.h
//   ALLOC_*                       mm/internal.h, 6.1 (ALLOC_HARDER, ALLOC_HIGH).
//   gfp_text(gfp)                 the %pGg rendering the kernel's warn_alloc prints.
//
// gfp_zone() itself is an arithmetic core: impl/buddy/buddy_core.hpp.
#pragma once

#include <cstdint>
#include <string>

namespace mmref::buddy {

using gfp_t = std::uint32_t;

// include/linux/gfp_types.h, 6.1 (v4.15 – v6.2 layout; LOCKDEP and KASAN_HW_TAGS off, so
// __GFP_NOLOCKDEP, __GFP_SKIP_ZERO and __GFP_SKIP_KASAN_* are 0).
inline constexpr gfp_t __GFP_DMA = 0x01u;
inline constexpr gfp_t __GFP_HIGHMEM = 0x02u;
inline constexpr gfp_t __GFP_DMA32 = 0x04u;
inline constexpr gfp_t __GFP_MOVABLE = 0x08u;
inline constexpr gfp_t __GFP_RECLAIMABLE = 0x10u;
inline constexpr gfp_t __GFP_HIGH = 0x20u;
inline constexpr gfp_t __GFP_IO = 0x40u;
inline constexpr gfp_t __GFP_FS = 0x80u;
inline constexpr gfp_t __GFP_ZERO = 0x100u;
inline constexpr gfp_t __GFP_ATOMIC = 0x200u;
inline constexpr gfp_t __GFP_DIRECT_RECLAIM = 0x400u;
inline constexpr gfp_t __GFP_KSWAPD_RECLAIM = 0x800u;
inline constexpr gfp_t __GFP_WRITE = 0x1000u;
inline constexpr gfp_t __GFP_NOWARN = 0x2000u;
inline constexpr gfp_t __GFP_RETRY_MAYFAIL = 0x4000u;
inline constexpr gfp_t __GFP_NOFAIL = 0x8000u;
inline constexpr gfp_t __GFP_NORETRY = 0x10000u;
inline constexpr gfp_t __GFP_MEMALLOC = 0x20000u;
inline constexpr gfp_t __GFP_COMP = 0x40000u;
inline constexpr gfp_t __GFP_NOMEMALLOC = 0x80000u;
inline constexpr gfp_t __GFP_HARDWALL = 0x100000u;
inline constexpr gfp_t __GFP_THISNODE = 0x200000u;
inline constexpr gfp_t __GFP_ACCOUNT = 0x400000u;
inline constexpr gfp_t __GFP_ZEROTAGS = 0x800000u;
// 6.1's __GFP_BITS_SHIFT is 27 + LOCKDEP; bits 24..26 are the KASAN_HW_TAGS flags, which are 0
// on this configuration. The model accepts bits 0..23 and refuses anything above as invalid.
inline constexpr unsigned __GFP_BITS_SHIFT = 24;
inline constexpr gfp_t __GFP_BITS_MASK = (gfp_t{1} << __GFP_BITS_SHIFT) - 1;

inline constexpr gfp_t __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;
inline constexpr gfp_t GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE;
inline constexpr unsigned GFP_MOVABLE_SHIFT = 3;

// Composite types, include/linux/gfp_types.h (6.1).
inline constexpr gfp_t GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
inline constexpr gfp_t GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
inline constexpr gfp_t GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
inline constexpr gfp_t GFP_NOIO = __GFP_RECLAIM;
inline constexpr gfp_t GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
inline constexpr gfp_t GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
inline constexpr gfp_t GFP_DMA = __GFP_DMA;
inline constexpr gfp_t GFP_DMA32 = __GFP_DMA32;
inline constexpr gfp_t GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
inline constexpr gfp_t GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;
inline constexpr gfp_t GFP_TRANSHUGE_LIGHT =
    (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM;
inline constexpr gfp_t GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM;

static_assert(GFP_ATOMIC == 0xA20 && GFP_KERNEL == 0xCC0 && GFP_USER == 0x100CC0 && GFP_HIGHUSER_MOVABLE == 0x100CCA &&
              GFP_TRANSHUGE_LIGHT == 0x1C20CA && GFP_TRANSHUGE == 0x1C24CA);

// enum zone_type — include/linux/mmzone.h, x86-64 with CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32,
// no HIGHMEM, and CONFIG_ZONE_DEVICE (ZONE_DEVICE is never a gfp target).
enum zone_type : unsigned { ZONE_DMA = 0, ZONE_DMA32 = 1, ZONE_NORMAL = 2, ZONE_MOVABLE = 3, ZONE_DEVICE = 4 };
inline constexpr unsigned MAX_NR_ZONES = 5;
// mm/page_alloc.c zone_names[]
inline constexpr const char* zone_names[MAX_NR_ZONES] = {"DMA", "DMA32", "Normal", "Movable", "Device"};

// enum migratetype — include/linux/mmzone.h (4.4+ order). MIGRATE_CMA and MIGRATE_ISOLATE
// are not modelled (no CMA area; no page isolation).
enum migratetype : unsigned {
  MIGRATE_UNMOVABLE = 0,
  MIGRATE_MOVABLE = 1,
  MIGRATE_RECLAIMABLE = 2,
  MIGRATE_PCPTYPES = 3,
  MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES,
  MIGRATE_TYPES = 4,
};
// mm/page_alloc.c migratetype_names[]
inline constexpr const char* migratetype_names[MIGRATE_TYPES] = {"Unmovable", "Movable", "Reclaimable", "HighAtomic"};

// gfp_migratetype() — include/linux/gfp.h. Both mobility bits give 3 (= HIGHATOMIC), which the
// kernel warns about and the model refuses as invalid input.
constexpr unsigned gfp_migratetype(gfp_t gfp) { return (gfp & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT; }

// ALLOC_* — mm/internal.h (6.1).
inline constexpr unsigned ALLOC_WMARK_MIN = 0;  // WMARK_MIN
inline constexpr unsigned ALLOC_WMARK_LOW = 1;  // WMARK_LOW
inline constexpr unsigned ALLOC_WMARK_HIGH = 2; // WMARK_HIGH
inline constexpr unsigned ALLOC_NO_WATERMARKS = 0x04;
inline constexpr unsigned ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1;
inline constexpr unsigned ALLOC_OOM = 0x08;
inline constexpr unsigned ALLOC_HARDER = 0x10;
inline constexpr unsigned ALLOC_HIGH = 0x20;
inline constexpr unsigned ALLOC_CPUSET = 0x40;
inline constexpr unsigned ALLOC_CMA = 0x80;
inline constexpr unsigned ALLOC_NOFRAGMENT = 0x100;
inline constexpr unsigned ALLOC_KSWAPD = 0x800;
static_assert(ALLOC_HIGH == __GFP_HIGH && ALLOC_KSWAPD == __GFP_KSWAPD_RECLAIM);  // BUILD_BUG_ONs in 6.1

// enum zone_watermarks — include/linux/mmzone.h. Debian's 6.1 /proc/zoneinfo prints no `promo`
// line (the shipped 6.12 one does), so the model keeps the three marks 6.1 shows.
enum zone_watermarks : unsigned { WMARK_MIN = 0, WMARK_LOW = 1, WMARK_HIGH = 2, NR_WMARK = 3 };

// The flag names warn_alloc prints with %pGg (include/trace/events/mmflags.h: composites first,
// then single flags).
std::string gfp_text(gfp_t gfp);

}  // namespace mmref::buddy
