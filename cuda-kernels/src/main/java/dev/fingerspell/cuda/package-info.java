/** The CUDA backend (to come: see the CUDA issue). Empty until then so that the build holds. */
package dev.fingerspell.cuda;
